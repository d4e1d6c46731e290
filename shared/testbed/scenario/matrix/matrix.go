// Package matrix generates the timing matrix (issue 19): for each
// lifecycle rule of DESIGN section 1 and the two seed documents, a
// sequence of admin actions; an HR decision (retain, release, cancelled,
// rehire) arriving before, between and after them; with and without an
// archive target. Each scenario carries the outcome a compliance officer
// expects, worked out here from the lifecycle rules alone (what the tenant
// would do with nobody acting, and what can still be recovered when the
// decision arrives), not from holdfast's code.
package matrix

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Admin actions, as the simulator names them.
const (
	RemoveLicense = "removeLicense" // licence removed (30-day grace)
	DeleteUser    = "deleteUser"    // Graph / admin centre delete (recycle bin)
	RemoveMailbox = "removeMailbox" // Remove-Mailbox in Exchange (account goes too; no notification)
	PurgeUser     = "purgeUser"     // hard delete from the recycle bin
	RestoreUser   = "restoreUser"   // admin restores the user from the recycle bin
)

// Rule is one lifecycle rule: the admin actions an admin takes, a day apart.
type Rule struct {
	Name    string
	Source  string // where the rule comes from
	Actions []string
}

// Rules are the lifecycle rules the matrix covers.
var Rules = []Rule{
	{"licence-removed", "DESIGN 1 row 1; seed 001 licence removal", []string{RemoveLicense}},
	{"deleted", "DESIGN 1 row 2; seed 001 delete in the admin centre", []string{DeleteUser}},
	{"remove-mailbox", "seed 001 Remove-Mailbox (user deleted too, recoverable 30 d)", []string{RemoveMailbox}},
	{"licence-then-deleted", "DESIGN 1 rows 1+2: the earlier clock wins", []string{RemoveLicense, DeleteUser}},
	{"deleted-then-purged", "DESIGN 1 row 4; seed 001 hard-deleted user, mailbox soft-deleted 30 d", []string{DeleteUser, PurgeUser}},
	{"licence-deleted-purged", "DESIGN 1 row 5; seed 001 note on Restore-MgDirectoryDeletedItem", []string{RemoveLicense, DeleteUser, PurgeUser}},
	{"remove-mailbox-then-purged", "seed 001 soft-deleted mailbox whose account was hard-deleted", []string{RemoveMailbox, PurgeUser}},
	{"deleted-then-restored", "seed 001 restore a user account (same source)", []string{DeleteUser, RestoreUser}},
	{"licence-deleted-restored", "DESIGN 1 row 1 after a restore; seed 002 restore guide", []string{RemoveLicense, DeleteUser, RestoreUser}},
}

// Decisions an HR system sends.
const (
	Retain    = "retain"
	Release   = "release"
	Cancelled = "cancelled" // offboarding (release) sent first, then cancelled
	Rehire    = "rehire"    // offboarding (release) sent first, then rehire
)

// Decisions lists them in matrix order.
var Decisions = []string{Retain, Release, Cancelled, Rehire}

// Targets: where an archive target comes from.
const (
	TargetNone    = "no-target"
	TargetSetting = "target-setting" // HOLDFAST_ARCHIVE_TARGET
	TargetEvent   = "target-event"   // archiveTarget in the HR event (retain/release only)
)

// Outcomes a compliance officer expects.
const (
	// Kept: the content survives (in the mailbox, or copied into the
	// archive target), nothing lost.
	Kept = "kept"
	// Warned: only a copy into an archive mailbox could save it and no
	// target is known: a blocker alert names the deadline within an hour.
	Warned = "warned"
	// Lost: the mailbox was gone (or lost to an admin purge holdfast could
	// not foresee) before any decision could save it: reported as purged,
	// never as safe.
	Lost = "lost"
	// Released: HR released it; holdfast rescues nothing after the
	// decision and the tenant's own fate for the mailbox plays out.
	Released = "released"
)

const (
	upn     = "leaver@contoso.test"
	archive = "archive@contoso.test"
	day     = 24 * time.Hour
	// checkAt is when the final state is read: after every 30-day window
	// the matrix starts (the last admin action is on day 3).
	checkAt = 40 * day
)

// Start is the virtual start of every matrix scenario.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Case is one generated scenario with its expectation in words.
type Case struct {
	Name     string
	Rule     Rule
	Decision string
	Position int // number of admin actions before the decision
	Target   string
	Outcome  string
	Scenario *scenario.Scenario
}

// Generate builds every scenario of the matrix.
func Generate() ([]Case, error) {
	var out []Case
	for _, rule := range Rules {
		for _, dec := range Decisions {
			targets := []string{TargetNone, TargetSetting, TargetEvent}
			if dec != Retain {
				// A release names no target (the decoder rejects one), and
				// cancellations and rehires carry none.
				targets = targets[:2]
			}
			for pos := 0; pos <= len(rule.Actions); pos++ {
				for _, tgt := range targets {
					c := Case{Rule: rule, Decision: dec, Position: pos, Target: tgt}
					c.Name = fmt.Sprintf("%s/%s/%s/%s", rule.Name, dec, positionName(rule, pos), tgt)
					c.Outcome = Expect(rule, dec, pos, tgt)
					sc, err := build(c)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", c.Name, err)
					}
					c.Scenario = sc
					out = append(out, c)
				}
			}
		}
	}
	return out, nil
}

func positionName(r Rule, pos int) string {
	switch {
	case pos == 0:
		return "before-" + r.Actions[0]
	case pos == len(r.Actions):
		return "after-" + r.Actions[pos-1]
	}
	return "after-" + r.Actions[pos-1] + "-before-" + r.Actions[pos]
}

// world is the tenant as the lifecycle rules leave it with nobody acting.
type world struct {
	licenceRemoved bool
	user           string // active, deleted, purged
	mailbox        string // active, softDeleted, purged
}

func play(actions []string) world {
	w := world{user: "active", mailbox: "active"}
	for _, a := range actions {
		switch a {
		case RemoveLicense:
			w.licenceRemoved = true
		case DeleteUser, RemoveMailbox:
			w.user, w.mailbox = "deleted", "softDeleted"
		case PurgeUser:
			w.user = "purged"
			if w.mailbox == "softDeleted" && w.licenceRemoved {
				// DESIGN 1 row 5: licence removed, then purged: no
				// soft-deleted state, the mailbox goes with the user.
				w.mailbox = "purged"
			}
		case RestoreUser:
			w.user, w.mailbox = "active", "active"
		}
	}
	return w
}

// finalMailbox is the mailbox's fate after every window has run out, with
// nobody acting.
func finalMailbox(r Rule) string {
	w := play(r.Actions)
	if w.mailbox == "softDeleted" || w.mailbox == "active" && w.licenceRemoved {
		return "purged"
	}
	return w.mailbox
}

// Expect is the outcome a compliance officer expects. A decision to keep
// (retain; a cancelled offboarding or a rehire, whose employee stays) saves
// whatever still exists when it arrives; where only a copy can save it,
// that needs an archive target, and without one the officer expects a
// warning with the deadline. A retain sent before any admin action is a
// hold in effect before anything destructive. A cancellation or rehire
// sent before any admin action leaves the tenant default (retain) in
// charge: it rescues before the deadline, which an admin purge of an
// unlicensed user's account beats (DESIGN 1 row 5).
func Expect(r Rule, dec string, pos int, target string) string {
	known := target != TargetNone
	if dec == Release {
		return Released
	}
	if dec == Retain && pos == 0 {
		return Kept
	}
	if pos == 0 {
		// Default decision: learned from directory events (or the
		// 6-hourly reconcile) as each action happens.
		for i, a := range r.Actions {
			if a != PurgeUser {
				continue
			}
			w := play(r.Actions[:i+1])
			if w.mailbox == "purged" {
				return Lost
			}
			if w.user == "purged" {
				if target == TargetSetting {
					return Kept
				}
				return Warned
			}
		}
		return Kept
	}
	w := play(r.Actions[:pos])
	switch {
	case w.mailbox == "purged":
		return Lost
	case w.user == "purged":
		if known {
			return Kept
		}
		return Warned
	}
	return Kept
}

// build writes the scenario as a file would say it, and parses it (which
// validates it).
func build(c Case) (*scenario.Scenario, error) {
	type step = map[string]any
	var steps []step
	at := func(d time.Duration) string {
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dd%dh%dm", int(d/day), int(d%day/time.Hour), int(d%time.Hour/time.Minute))
	}
	settings := map[string]string{}
	if c.Target == TargetSetting {
		settings["HOLDFAST_ARCHIVE_TARGET"] = archive
	}
	hrAt := time.Duration(c.Position)*day + 12*time.Hour
	hr := step{"type": "offboarding", "upn": upn, "retention": c.Decision, "ticket": "HR-" + c.Decision}
	switch c.Decision {
	case Cancelled, Rehire:
		steps = append(steps, step{"at": "0h", "hr": step{"type": "offboarding", "upn": upn, "retention": Release}})
		hr = step{"type": map[string]string{Cancelled: "offboardingCancelled", Rehire: "rehire"}[c.Decision], "upn": upn, "ticket": "HR-" + c.Decision}
	}
	if c.Target == TargetEvent {
		hr["archiveTarget"] = archive
	}
	steps = append(steps, step{"at": at(hrAt), "hr": hr})
	var purgeAt time.Duration
	for i, a := range c.Rule.Actions {
		t := time.Duration(i+1) * day
		steps = append(steps, step{"at": at(t), "admin": step{"action": a, "upn": upn}})
		// Reconcile runs every 6 hours in production; Remove-Mailbox sends
		// no notification, so it is how holdfast learns of one.
		steps = append(steps, step{"at": at(t + 6*time.Hour), "reconcile": true})
		if a == PurgeUser {
			purgeAt = t
		}
	}
	yes, no, zero := true, false, 0
	final := step{"upn": upn}
	switch c.Outcome {
	case Kept:
		final["kept"] = yes
	case Lost:
		final["kept"], final["mailbox"], final["caseState"] = no, "purged", "purged"
	case Warned:
		// Within an hour of the moment holdfast could know: the decision,
		// or the purge under the default decision.
		warnAt := max(hrAt, purgeAt) + time.Hour
		steps = append(steps, step{"at": at(warnAt), "expect": step{"upn": upn, "alert": "blocker"}})
		final["kept"] = no
	case Released:
		final["mailbox"] = finalMailbox(c.Rule)
		for _, act := range []string{"placeHold", "restoreUser", "assignLicence", "undoSoftDelete"} {
			steps = append(steps, step{"at": at(checkAt), "expect": step{"upn": upn, "action": act, "actionCount": zero}})
		}
	}
	steps = append(steps, step{"at": at(checkAt), "expect": final}, step{"at": at(checkAt), "expect": step{"rejected": zero}})
	doc := map[string]any{
		"name":        c.Name,
		"description": fmt.Sprintf("%s (%s): HR %s after %d admin action(s), %s; expected %s", c.Rule.Name, c.Rule.Source, c.Decision, c.Position, c.Target, c.Outcome),
		"start":       Start.Format(time.RFC3339),
		"settings":    settings,
		"tenant": sim.TenantSpec{Users: []sim.UserSpec{
			{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 800, EmployeeID: "E-1901"},
			{UPN: archive, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
		}},
		"steps": steps,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return scenario.Parse(b)
}
