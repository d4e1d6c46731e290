package retention

import (
	"errors"
	"fmt"
	"time"
)

// The case machine: every decision about a case's state is taken here, by
// Step, from one fact at a time. The engine fetches facts (reads the
// tenant), performs what an Outcome asks (Next) and commits; it never sets
// a state itself. Step does no I/O and reads no clock.

// FactKind names one fact the machine decides on.
type FactKind string

const (
	// FactOffboarding: HR decided on a leaver (Fact.Decision). A resting,
	// cancelled or blocked case opens again.
	FactOffboarding FactKind = "offboarding"
	// FactWithdrawn: HR withdrew the leaving decision (a cancellation or a
	// rehire): the tenant default applies; a blocked case tries again.
	FactWithdrawn FactKind = "withdrawn"
	// FactUndecided: a directory change for a case no decision reached
	// yet: the tenant default applies.
	FactUndecided FactKind = "undecided"
	// FactLicenceRemoved: the event's own account of a licence removal
	// (Fact.SKUs, Fact.At), after the facts were refreshed.
	FactLicenceRemoved FactKind = "licenceRemoved"
	// FactWrittenOff: consistent readings (ObserveOutOfPlace) say the
	// mailbox no longer exists; Fact.Account names another account found
	// holding its ExchangeGuid, if any.
	FactWrittenOff FactKind = "writtenOff"
	// FactSettle: the facts were refreshed after a directory change, a
	// re-check or a deadline: derive the state from them.
	FactSettle FactKind = "settle"
	// FactCancelled: HR cancelled the offboarding; facts refreshed.
	FactCancelled FactKind = "cancelled"
	// FactDecided: act on the decision with the facts just refreshed:
	// release, or protect (Next == NextProtect).
	FactDecided FactKind = "decided"
	// FactLateDecision: the decision was acted on; one that finds a clock
	// already running asks for the rescue at once.
	FactLateDecision FactKind = "lateDecision"
	// FactProtect: protection is wanted; Step says whether to place the
	// hold (Next == NextPlaceHold), settle, or block.
	FactProtect FactKind = "protect"
	// FactHoldPlaced: Set-Mailbox -LitigationHoldEnabled succeeded.
	FactHoldPlaced FactKind = "holdPlaced"
	// FactHoldSendFailed: a hold request recorded by a committed decision
	// (an HR offboarding's, sent after the commit) did not reach Exchange
	// (a transient failure past the client's retries). Step plans to send
	// it again after HoldResendDelay instead of waiting for the end of the
	// propagation window.
	FactHoldSendFailed FactKind = "holdSendFailed"
	// FactHoldNotShown: the read after placing does not show the hold yet.
	FactHoldNotShown FactKind = "holdNotShown"
	// FactHoldShown: the read after placing shows the hold (Fact.Mailbox).
	FactHoldShown FactKind = "holdShown"
	// FactHoldMissing: at the end of the propagation window the hold is
	// not on the mailbox (removed before it took effect).
	FactHoldMissing FactKind = "holdMissing"
	// FactHoldInEffect: at the end of the propagation window the hold is on
	// (Fact.Mailbox, the reading, when there is one). A reading before the
	// end, taken to send a lost request again, only shows the hold.
	FactHoldInEffect FactKind = "holdInEffect"
	// FactBlocked: an action found something only a human can fix
	// (Fact.Blocker).
	FactBlocked FactKind = "blocked"
	// FactUserActive: a read found the user in the directory (Fact.User).
	FactUserActive FactKind = "userActive"
	// FactUserLicences: the active user's licences (Fact.User.SKUs) and its
	// mailbox in the active scope (Fact.Mailbox, nil if not there);
	// Fact.Inventory when Reconcile found it. Next == NextConfirmGone when
	// the mailbox must be looked for in every scope.
	FactUserLicences FactKind = "userLicences"
	// FactUserDeleted: the user is in the recycle bin (deleted at Fact.At
	// if known; Fact.User.UPN the rewritten UPN).
	FactUserDeleted FactKind = "userDeleted"
	// FactUserPurged: the user is in neither the directory nor the
	// recycle bin.
	FactUserPurged FactKind = "userPurged"
	// FactMailboxInactive, FactMailboxSoftDeleted: a deleted user's mailbox
	// was found in that scope (Fact.Mailbox). FactMailboxMissing: in
	// neither; Next == NextConfirmGone when every scope must be read.
	FactMailboxInactive    FactKind = "mailboxInactive"
	FactMailboxSoftDeleted FactKind = "mailboxSoftDeleted"
	FactMailboxMissing     FactKind = "mailboxMissing"
	// FactNotConfirmedGone: after NextConfirmGone, the evidence does not
	// (yet) say the mailbox is gone: its clock runs meanwhile.
	FactNotConfirmedGone FactKind = "notConfirmedGone"
	// FactAccountBack: a rehire or rescue brought the deleted account back.
	FactAccountBack FactKind = "accountBack"
	// FactAccountRecreated: Undo-SoftDeletedMailbox brought a mailbox
	// whose account was gone back into a new account (Fact.Account, its
	// object id).
	FactAccountRecreated FactKind = "accountRecreated"
	// FactRestoreRequested: an admin asked for a copy into Fact.Account
	// (holdfast restore --to; Fact.Actor).
	FactRestoreRequested FactKind = "restoreRequested"
	// FactRehired: a rehire with nothing (more) to bring back, facts
	// refreshed; Fact.AccountBack says whether the account was just
	// brought back.
	FactRehired FactKind = "rehired"
	// FactRecovered: an inactive mailbox was recovered into a new account
	// (Fact.Recovery).
	FactRecovered FactKind = "recovered"
	// FactRestoreStarted: restore requests were submitted (Fact.Restores).
	FactRestoreStarted FactKind = "restoreStarted"
	// FactRestoreFinished: every restore request completed.
	FactRestoreFinished FactKind = "restoreFinished"
	// FactReleasedByAdmin: an admin released the case (Fact.Actor,
	// Fact.Words the reason).
	FactReleasedByAdmin FactKind = "releasedByAdmin"
	// FactWarned: a warning the plan asked for (Fact.Action) goes out.
	FactWarned FactKind = "warned"
	// FactLicenceAssigned: the rescue re-assigned the user's licence.
	FactLicenceAssigned FactKind = "licenceAssigned"
	// FactRescueBegun: a rescue attempt starts.
	FactRescueBegun FactKind = "rescueBegun"
	// FactRescued: the account is back and licensed (Fact.At when the
	// rescue started; Fact.AccountBack if this attempt brought it back, so
	// the hold is placed again); the hold is placed next.
	FactRescued FactKind = "rescued"
	// FactRescueRecorded: the rescued account's hold was placed; the
	// rescue alert names the episode by the deadline it beat (Fact.Episode).
	FactRescueRecorded FactKind = "rescueRecorded"
	// FactSweepFailed: the sweep's work on the case failed (Fact.Words,
	// the error); Policy.MaxFailures in a row raise the caseFailing alert.
	FactSweepFailed FactKind = "sweepFailed"
	// FactSweepSucceeded: the sweep's work on the case went through; the
	// failure count starts again.
	FactSweepSucceeded FactKind = "sweepSucceeded"
)

// Fact is one fact with what its kind needs; other fields are zero.
type Fact struct {
	Kind     FactKind
	Decision Decision     // FactOffboarding
	Blocker  Blocker      // FactBlocked
	SKUs     []string     // FactLicenceRemoved
	At       time.Time    // FactLicenceRemoved, FactUserDeleted (when it happened; zero if unknown), FactRescued
	Episode  time.Time    // FactRescueRecorded
	Recovery Recovery     // FactRecovered
	Restores []RestoreJob // FactRestoreStarted
	Action   Action       // FactWarned
	// AccountBack: FactRehired after the account was brought back.
	AccountBack bool
	// Account: FactWrittenOff, the account holding the ExchangeGuid;
	// FactAccountRecreated, the new object id; FactRestoreRequested, the
	// archive target.
	Account   string
	Actor     string          // FactReleasedByAdmin, FactRestoreRequested
	Words     string          // FactReleasedByAdmin: the admin's reason; FactSweepFailed: the error
	User      UserReading     // FactUserActive, FactUserLicences, FactUserDeleted
	Mailbox   *MailboxReading // FactUserLicences, FactMailboxInactive, FactMailboxSoftDeleted, FactHoldShown
	Inventory bool            // FactUserLicences
	RequestID string          // FactHoldPlaced: the client-request-id Set-Mailbox was sent with
}

// BlockerKind names what stops holdfast protecting a mailbox by itself.
type BlockerKind string

const (
	BlockAutoExpandingArchive BlockerKind = "autoExpandingArchive"
	BlockHoldNotAllowed       BlockerKind = "holdNotAllowed"
	BlockNoMailbox            BlockerKind = "noMailbox"
	BlockNoArchiveTarget      BlockerKind = "noArchiveTarget"
	BlockNoMailboxIdentity    BlockerKind = "noMailboxIdentity"
	BlockRestoreTargetMissing BlockerKind = "restoreTargetMissing"
	BlockRestoreTargetNoHold  BlockerKind = "restoreTargetNoHold"
	BlockNeedsPowerShell      BlockerKind = "needsPowerShell"
	BlockUPNInUse             BlockerKind = "upnInUse"
	BlockRecoveryRefused      BlockerKind = "recoveryRefused"
	BlockNoLicenceUnits       BlockerKind = "noLicenceUnits"
)

// Blocker is a blocker with the words for the admin: why, and what to do.
type Blocker struct {
	Kind   BlockerKind
	Why    string
	Remedy string
}

// Recovery is what New-Mailbox -InactiveMailbox produced.
type Recovery struct {
	ObjectID          string // the new account's Entra object id
	UPN               string
	ExchangeGUID      string
	DistinguishedName string
	LegacyExchangeDN  string
}

// Next is what the engine must do after a Step, before anything else.
type Next string

const (
	NextNothing   Next = ""
	NextProtect   Next = "protect"   // step FactProtect
	NextPlaceHold Next = "placeHold" // Set-Mailbox -LitigationHoldEnabled, then FactHoldPlaced
	NextDecide    Next = "decide"    // step FactDecided
	// NextConfirmGone: read every mailbox scope (the evidence rule), then
	// step FactWrittenOff or FactNotConfirmedGone.
	NextConfirmGone Next = "confirmGone"
)

// AlertKind names an alert; channels render it.
type AlertKind string

const (
	AlertWarning        AlertKind = "warning"
	AlertBlocker        AlertKind = "blocker"
	AlertRescued        AlertKind = "rescued"
	AlertPurged         AlertKind = "purged"
	AlertRestoreStarted AlertKind = "restoreStarted"
	AlertRestored       AlertKind = "restored"
	AlertRecovered      AlertKind = "recovered"
	AlertCaseFailing    AlertKind = "caseFailing"
)

// Severity of an alert, in increasing urgency.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Alert is an alert the machine raises; the engine sends it once per ID.
type Alert struct {
	ID       string
	Kind     AlertKind
	Severity Severity
	Action   string // what holdfast does or did
	Remedy   string // what a human should do
	Details  map[string]string
}

// Audit is one row of the case's audit trail.
type Audit struct {
	Action, Result, Detail string
}

// Outcome is what a Step decided besides the case itself.
type Outcome struct {
	From, To State
	Next     Next
	Audit    []Audit
	Alerts   []Alert
	// Err: the fact cannot be acted on (ErrNoMailboxIdentity).
	Err error
}

// ErrNoMailboxIdentity: a hold is wanted on a case with neither UPN nor
// ExchangeGuid.
var ErrNoMailboxIdentity = errors.New("no mailbox identity")

func (o *Outcome) log(action, result, detail string) {
	o.Audit = append(o.Audit, Audit{Action: action, Result: result, Detail: detail})
}

func (o *Outcome) alert(a Alert) { o.Alerts = append(o.Alerts, a) }

// Step applies one fact to c (updated in place) under policy p at now, and
// says what follows. It is the only writer of c.State.
func Step(c *Case, f Fact, p Policy, now time.Time) Outcome {
	o := Outcome{From: c.State}
	switch f.Kind {
	case FactOffboarding:
		if err := Decide(c, f.Decision, p); err != nil {
			o.log("decide", "warning", err.Error())
		}
		o.log("decide", "ok", fmt.Sprintf("retention=%s source=hr ticket=%s lastWorkingDay=%s", c.Retention, c.Ticket, c.LastWorkingDay))
		if c.State == StateCancelled || c.State == StateTracking {
			c.State = StateTracking
		}
		unblock(c, &o)
	case FactWithdrawn:
		if err := Decide(c, Decision{Source: "hr"}, p); err != nil {
			o.log("decide", "warning", err.Error())
		}
		unblock(c, &o)
	case FactUndecided:
		if c.Retention == "" {
			if err := Decide(c, Decision{Source: "default"}, p); err != nil {
				o.log("decide", "warning", err.Error())
			}
		}
	case FactLicenceRemoved:
		if len(f.SKUs) > 0 && c.LicenceRemovedAt != nil {
			c.RemovedSKUs = append([]string(nil), f.SKUs...)
			if !f.At.IsZero() && f.At.Before(*c.LicenceRemovedAt) {
				at := f.At
				c.LicenceRemovedAt = &at
				if c.DeadlineKind == ClockLicenceGrace {
					c.ClearDeadline()
					c.SetDeadline(ClockLicenceGrace, at)
				}
			}
		}
	case FactWrittenOff:
		at := now
		c.MailboxPurgedAt = &at
		c.ClearDeadline()
		since := now
		if c.UnconfirmedSince != nil {
			since = *c.UnconfirmedSince
		}
		o.log("observe", "lost", "mailbox in no scope (active, soft-deleted, inactive) since "+since.Format(time.RFC3339)+": it no longer exists in Exchange")
		if f.Account != "" {
			// A synced account that came back with the same ExchangeGuid
			// and got a licence hard-deletes the original: say so, the
			// remedy is upstream (directory sync), not in Exchange.
			c.Explain(ReasonExchangeGUIDConflict, ExchangeGUIDConflictReason(f.Account))
			o.log("exchangeGuidConflict", "ok", c.Reason)
		}
	case FactSettle:
		settle(c, now, &o)
	case FactCancelled:
		switch {
		case c.MailboxPurgedAt != nil:
			// The record that the mailbox is gone stays: cancelling cannot
			// bring it back, and must not make it look settled. (The
			// reading for the cancellation may be the one that found it
			// gone: the case says purged, with its alert.)
			o.log("cancel", "ok", "offboarding cancelled, but the mailbox was already purged")
			settle(c, now, &o)
		case AtRisk(c):
			// The employee stays, but an admin went ahead: the default
			// decision applies to the mailbox already at risk.
			c.State = StateTracking
			o.log("cancel", "ok", "offboarding cancelled, but the mailbox is already at risk: the default decision applies (retention="+c.Retention+")")
			o.Next = NextDecide
		default:
			c.State = StateCancelled
			c.Explain(ReasonUnspecified, "offboarding cancelled by HR")
			c.ClearDeadline()
			o.log("cancel", "ok", "offboarding cancelled; any Litigation Hold placed stays on the mailbox until an admin removes it")
		}
	case FactDecided:
		if c.MailboxPurgedAt != nil {
			// Nothing left to keep or release.
			settle(c, now, &o)
			break
		}
		if !c.Retained() {
			release(c, &o)
			break
		}
		o.Next = NextProtect
	case FactLateDecision:
		// Waiting for the margin leaves days in which an admin purge loses
		// everything.
		if NeedsRescue(c) && c.UserPurgedAt == nil {
			dl := *c.Deadline
			c.RescueNowFor = &dl
			o.log("decide", "ok", "late decision: the mailbox is already at risk (deadline "+dl.Format(time.RFC3339)+"): rescue now")
		}
	case FactProtect:
		switch {
		case c.DeletedAt != nil || c.MailboxPurgedAt != nil:
			settle(c, now, &o)
		case c.AutoExpandingArchive:
			block(c, Blocker{Kind: BlockAutoExpandingArchive,
				Why:    "the mailbox has an auto-expanding archive: an inactive mailbox with one cannot be recovered or restored",
				Remedy: "before deleting the user, export the mailbox with a Purview content search (eDiscovery export), then release the case"}, &o)
		case c.UPN == "" && c.ExchangeGUID == "":
			o.Err = fmt.Errorf("case %s has %w", c.Key, ErrNoMailboxIdentity)
		case c.HoldEnabled && c.HoldEffectiveAt != nil:
			settle(c, now, &o)
		case !c.Licensed && c.LicenceRemovedAt != nil:
			// Exchange refuses a hold without a licence that includes it;
			// the rescue re-assigns the licence first, then places the hold.
			settle(c, now, &o)
		default:
			o.Next = NextPlaceHold
		}
	case FactHoldPlaced:
		at := now
		c.HoldRequestedAt, c.HoldResendAt = &at, nil
		detail := fmt.Sprintf("Set-Mailbox -LitigationHoldEnabled $true duration=%s comment=%q", DurationLabel(c.HoldDurationDays), c.RetentionComment())
		if f.RequestID != "" {
			detail = NameRequest(detail, f.RequestID)
		}
		o.log("placeHold", "ok", detail)
	case FactHoldNotShown:
		// Exchange may show a new hold, or a mailbox it has just brought
		// back, only after a while: the read at the end of the propagation
		// window confirms the hold, or places it again. Nothing counts as
		// safe before that read.
		eff := now.Add(p.HoldPropagation)
		c.HoldEnabled, c.HoldVerifiedAt, c.HoldEffectiveAt = true, nil, &eff
		o.log("verifyHold", "pending", "Get-Mailbox does not show the hold yet; reading again at "+eff.Format(time.RFC3339))
		c.State = StateProtecting
		c.Explain(ReasonUnspecified, "Litigation Hold requested, not yet shown by Exchange; not safe to delete")
		if o.From != c.State {
			o.log("transition", "ok", fmt.Sprintf("%s -> %s", o.From, c.State))
		}
	case FactHoldShown:
		if f.Mailbox != nil {
			c.LearnMailbox(*f.Mailbox, now, p)
		}
		at, eff := now, now.Add(p.HoldPropagation)
		c.HoldEnabled, c.HoldVerifiedAt, c.HoldEffectiveAt = true, &at, &eff
		o.log("verifyHold", "ok", "Get-Mailbox confirms LitigationHoldEnabled; in effect at "+eff.Format(time.RFC3339))
		c.State = StateProtecting
		c.Explain(ReasonUnspecified, "Litigation Hold placed; not yet safe to delete until "+eff.Format(time.RFC3339))
		if c.Deadline != nil && c.DeadlineKind == ClockLicenceGrace {
			c.ClearDeadline()
		}
		o.log("transition", "ok", fmt.Sprintf("%s -> %s", o.From, c.State))
	case FactHoldSendFailed:
		if c.State != StateProtecting || c.HoldRequestedAt == nil || c.HoldVerifiedAt != nil {
			break // superseded: the hold was shown, or the case moved on
		}
		at := now.Add(HoldResendDelay)
		c.HoldResendAt = &at
		o.log("placeHold", "failed", "Set-Mailbox did not reach Exchange after the commit ("+f.Words+"); sending it again at "+at.Format(time.RFC3339))
	case FactHoldMissing:
		if c.HoldResendAt != nil {
			o.log("confirmHold", "missing", "the hold request lost after the commit is not on the mailbox; sending it again")
		} else {
			o.log("confirmHold", "missing", "Litigation Hold was removed before it took effect; placing it again")
		}
		c.HoldEnabled, c.HoldEffectiveAt, c.HoldResendAt = false, nil, nil
		o.Next = NextProtect
	case FactHoldInEffect:
		if c.HoldEffectiveAt != nil && now.Before(*c.HoldEffectiveAt) {
			// Read early to send a lost request again, and the hold is
			// there (the request got through, its answer did not). It is
			// in effect a propagation window after it was placed: when
			// Exchange says, or else from now.
			eff := now.Add(p.HoldPropagation)
			if f.Mailbox != nil && f.Mailbox.LitigationHoldDate != nil {
				eff = f.Mailbox.LitigationHoldDate.Add(p.HoldPropagation)
			}
			if eff.Before(*c.HoldEffectiveAt) {
				eff = *c.HoldEffectiveAt
			}
			at := now
			c.HoldVerifiedAt, c.HoldEffectiveAt, c.HoldResendAt = &at, &eff, nil
			o.log("verifyHold", "ok", "Get-Mailbox shows LitigationHoldEnabled; in effect at "+eff.Format(time.RFC3339))
			c.Explain(ReasonUnspecified, "Litigation Hold placed; not yet safe to delete until "+eff.Format(time.RFC3339))
			break
		}
		if c.HoldVerifiedAt == nil {
			at := now
			c.HoldVerifiedAt = &at
		}
		c.State = StateProtected
		c.Explain(ReasonUnspecified, "Litigation Hold in effect: safe to delete")
		o.log("confirmHold", "ok", "hold in effect since "+c.HoldEffectiveAt.Format(time.RFC3339))
		o.log("transition", "ok", fmt.Sprintf("%s -> %s", o.From, c.State))
	case FactBlocked:
		block(c, f.Blocker, &o)
	case FactUserActive:
		seeActiveUser(c, f.User, &o)
	case FactUserLicences:
		seeLicences(c, f, p, now, &o)
	case FactUserDeleted, FactUserPurged:
		seeDeletedUser(c, f, now, &o)
	case FactMailboxInactive, FactMailboxSoftDeleted, FactMailboxMissing:
		seeDeletedMailbox(c, f, p, now, &o)
	case FactNotConfirmedGone:
		notConfirmedGone(c, now, &o)
	case FactLicenceAssigned:
		c.ClearDeadline()
	case FactAccountBack:
		c.DeletedAt, c.DeletionSource = nil, ""
		c.ClearDeadline()
	case FactAccountRecreated:
		c.PreviousObjectID, c.ObjectID, c.UserPurgedAt = c.ObjectID, f.Account, nil
	case FactRestoreRequested:
		c.ArchiveTarget = f.Account
		c.Restores, c.RestoredAt = nil, nil
		o.log("restoreTo", "ok", "copy-to-archive into "+f.Account+" requested by "+f.Actor)
	case FactRehired:
		switch {
		case AtRisk(c):
			// Kept as for a retain decision, with the rescue due at once.
			c.Retention, c.DecisionSource = Retain, "hr"
			c.State = StateTracking
			o.log("rehire", "ok", "rehired, and the mailbox is still at risk: kept as for a retain decision")
			o.Next = NextDecide
		case c.MailboxPurgedAt != nil:
			o.log("rehire", "ok", "rehired, but the mailbox was already purged: nothing to recover")
			settle(c, now, &o)
		case f.AccountBack:
			c.State = StateCancelled
			c.Explain(ReasonUnspecified, "rehired: user restored")
			o.log("rehire", "ok", c.Reason)
		default:
			c.State = StateCancelled
			c.Explain(ReasonUnspecified, "rehired")
			c.ClearDeadline()
			o.log("rehire", "ok", c.Reason)
		}
	case FactRecovered:
		rc := f.Recovery
		at := now
		c.PreviousObjectID, c.ObjectID, c.UPN = c.ObjectID, rc.ObjectID, rc.UPN
		c.RecoveredAt = &at
		c.DeletedAt, c.UserPurgedAt, c.DeletionSource, c.MailboxInactive = nil, nil, "", false
		c.HoldEnabled, c.HoldEffectiveAt, c.HoldVerifiedAt = false, nil, nil // recovery removes Litigation Hold
		c.Licensed, c.LicenceRemovedAt = false, &at
		c.ExchangeGUID, c.DistinguishedName, c.LegacyExchangeDN = rc.ExchangeGUID, rc.DistinguishedName, rc.LegacyExchangeDN
		c.ClearDeadline()
		c.SetDeadline(ClockRecoveredLicence, now)
		c.State = StateAtRisk
		c.Explain(ReasonUnspecified, "rehired: mailbox recovered into "+rc.UPN+"; license it before "+c.Deadline.Format(time.RFC3339))
		o.log("transition", "ok", fmt.Sprintf("%s -> %s: %s", o.From, c.State, c.Reason))
		o.alert(Alert{ID: c.Key + ":recovered", Kind: AlertRecovered, Severity: SeverityWarning,
			Action: "inactive mailbox recovered into the new account " + rc.UPN,
			Remedy: "set the account's usage location and assign a licence before " + c.Deadline.Format(time.RFC3339) + "; holdfast warns until then"})
	case FactRestoreStarted:
		c.Restores = f.Restores
		c.State = StateRescuing
		c.Explain(ReasonUnspecified, "copying the mailbox into "+c.ArchiveTarget+" before "+DeadlineText(c))
		o.log("transition", "ok", fmt.Sprintf("%s -> %s", o.From, c.State))
		o.alert(Alert{ID: fmt.Sprintf("%s:restoreStarted:%d", c.Key, now.Unix()), Kind: AlertRestoreStarted, Severity: SeverityInfo,
			Action: fmt.Sprintf("copying %d part(s) of the mailbox into %s with New-MailboxRestoreRequest", len(f.Restores), c.ArchiveTarget)})
	case FactRestoreFinished:
		at := now
		c.RestoredAt, c.RescuedAt = &at, &at
		c.State = StateRestored
		c.Explain(ReasonUnspecified, "content copied into "+c.ArchiveTarget+" (on hold); the source mailbox may be purged")
		c.ClearDeadline()
		o.log("rescue", "ok", "copy-to-archive completed into "+c.ArchiveTarget)
		o.log("transition", "ok", fmt.Sprintf("%s -> %s", o.From, c.State))
		o.alert(Alert{ID: c.Key + ":restored", Kind: AlertRestored, Severity: SeverityInfo,
			Action: "mailbox content copied into " + c.ArchiveTarget + " under \"" + rootFolders(c) + "\""})
	case FactReleasedByAdmin:
		c.Retention, c.DecisionSource, c.Policy = Release, "admin", ""
		o.log("release", "ok", "released by "+f.Actor+": "+f.Words)
		release(c, &o)
	case FactWarned:
		a := f.Action
		action := "mailbox will be purged: policy releases it"
		switch {
		case c.DeadlineKind == ClockRecoveredLicence:
			action = "the recovered account " + c.UPN + " is disabled unless licensed: assign it a licence"
		case c.Retained():
			at, _ := RescueAt(c, p)
			action = "holdfast will rescue it automatically at " + at.Format(time.RFC3339)
		}
		o.alert(Alert{ID: a.AlertID, Kind: AlertWarning, Severity: warnSeverity(a.Threshold), Action: action,
			Details: map[string]string{"threshold": ThresholdLabel(a.Threshold), "clock": c.DeadlineKind}})
		for _, id := range a.Covers {
			c.MarkAlertSent(id)
		}
		o.log("warn", "queued", fmt.Sprintf("%s before purge (%s)", ThresholdLabel(a.Threshold), c.DeadlineKind))
	case FactRescueBegun:
		c.RescueAttempts++
	case FactRescued:
		at := f.At
		c.RescuedAt = &at
		c.ClearDeadline()
		if f.AccountBack {
			c.HoldEnabled, c.HoldEffectiveAt = false, nil // place it again and start the window
		}
		o.Next = NextProtect
	case FactRescueRecorded:
		o.log("rescue", "ok", "mailbox rescued before its deadline; hold placed again")
		eff := "(unknown)"
		if c.HoldEffectiveAt != nil {
			eff = c.HoldEffectiveAt.Format(time.RFC3339)
		}
		o.alert(Alert{ID: fmt.Sprintf("%s:rescued:%d", c.Key, f.Episode.Unix()), Kind: AlertRescued, Severity: SeverityInfo,
			Action: "mailbox rescued and placed on Litigation Hold; the user can be deleted again once the hold is in effect at " + eff})
	case FactSweepFailed:
		c.Failures++
		c.LastError = f.Words
		o.log("sweep", "failed", f.Words)
		if max := p.MaxFailures; c.Failures >= max && max > 0 && c.State != StateFailing {
			// The state stays (it says what is true of the mailbox); the
			// failure count and this alert say a human must look.
			o.log("transition", "ok", fmt.Sprintf("%s -> failing after %d failures", c.State, c.Failures))
			o.alert(Alert{ID: fmt.Sprintf("%s:failing:%d", c.Key, c.Failures), Kind: AlertCaseFailing, Severity: SeverityCritical,
				Action: "holdfast keeps retrying every " + RetryInterval.String(),
				Remedy: "check the audit trail of the case: " + f.Words})
		}
	case FactSweepSucceeded:
		c.Failures, c.LastError = 0, ""
	default:
		o.Err = fmt.Errorf("unknown fact %q", f.Kind)
	}
	o.To = c.State
	return o
}

// Watched reports whether Reconcile must re-read the case's user and
// mailbox even when no notification says anything changed (a hold removed
// sends none): every open case, and a cancelled one whose mailbox is
// unlicensed, which only its hold keeps.
func Watched(c *Case) bool {
	if c.MailboxPurgedAt != nil {
		return false
	}
	return !c.State.Terminal() || c.State == StateCancelled && c.LicenceRemovedAt != nil
}

// recoveredLicensed: the account a mailbox was recovered into got its
// licence; the rehire is complete.
func recoveredLicensed(c *Case, o *Outcome) {
	if c.DeadlineKind == ClockRecoveredLicence {
		c.ClearDeadline()
		c.State = StateCancelled
		c.Explain(ReasonUnspecified, "rehired: recovered mailbox licensed")
		o.log("clock", "stopped", "recovered account licensed")
	}
}

// AtRisk reports whether a clock runs on a mailbox that still exists.
func AtRisk(c *Case) bool {
	return c.Deadline != nil && c.MailboxPurgedAt == nil && !c.MailboxInactive
}

// unblock lets a new HR decision try again on a blocked case: the blocker
// may be what the decision supplies (an archive target, a hold duration),
// and if it is not, acting again blocks again (the alert is not repeated).
func unblock(c *Case, o *Outcome) {
	if c.State != StateBlocked {
		return
	}
	o.log("unblock", "ok", "new HR decision: trying again (was blocked: "+c.Reason+")")
	c.State = StateTracking
}

func release(c *Case, o *Outcome) {
	c.State = StateReleased
	c.Explain(ReasonUnspecified, "policy releases this mailbox: no hold, purged on schedule")
	o.log("transition", "ok", "released: clocks are watched and warned, nothing is rescued")
}

func block(c *Case, b Blocker, o *Outcome) {
	prev := c.State
	c.State = StateBlocked
	c.Explain(ReasonUnspecified, b.Why)
	o.log("block", string(b.Kind), b.Why)
	if prev != c.State {
		o.log("transition", "ok", fmt.Sprintf("%s -> %s", prev, c.State))
	}
	o.alert(Alert{ID: c.Key + ":blocked:" + string(b.Kind), Kind: AlertBlocker, Severity: SeverityCritical,
		Action: "holdfast cannot protect this mailbox by itself", Remedy: b.Remedy,
		Details: map[string]string{"blocker": string(b.Kind)}})
}

// settle derives the case's state from its facts.
func settle(c *Case, now time.Time, o *Outcome) {
	prev := c.State
	switch {
	case c.State == StateCancelled && !AtRisk(c) && c.MailboxPurgedAt == nil:
		// A cancelled offboarding rests while nothing is at risk; a later
		// licence removal or deletion of the staying employee is handled
		// under the default decision like any other, and a purge of its
		// mailbox is said.
	case c.State == StateBlocked && c.MailboxPurgedAt == nil || c.State == StateRestored:
		// Stays until a human or HR acts (or, restored, for good: the
		// content is safe in the archive target); facts are still tracked.
	case c.MailboxPurgedAt != nil:
		kind, reason := ReasonUnspecified, "the mailbox was purged"
		if c.ReasonKind == ReasonExchangeGUIDConflict {
			kind, reason = c.ReasonKind, c.Reason
		}
		c.State = StatePurged
		c.Explain(kind, reason)
	case c.UnconfirmedSince != nil && c.Retention != Release && c.State != StateRescuing:
		c.State = StateUnconfirmed
		c.Explain(ReasonUnspecified, "Exchange shows the mailbox in scope "+string(c.LastSighting)+
			", not where the directory says; re-reading at "+c.RecheckAt.Format(time.RFC3339)+" before writing anything off (rescue stays armed)")
	case c.MailboxInactive:
		c.State = StateInactive
		c.Explain(ReasonUnspecified, "user deleted; mailbox inactive under Litigation Hold")
	case c.Retention == Release:
		c.State = StateReleased
		c.Explain(ReasonUnspecified, "policy releases this mailbox")
	case c.Deadline != nil:
		switch {
		case c.State == StateRescuing:
		case c.DeadlineKind == ClockRecoveredLicence:
			c.State = StateAtRisk
			c.Explain(ReasonUnspecified, "rehired: recovered account "+c.UPN+" is disabled at "+c.Deadline.Format(time.RFC3339)+" unless licensed")
		default:
			c.State = StateAtRisk
			c.Explain(ReasonUnspecified, "mailbox will be purged at "+c.Deadline.Format(time.RFC3339)+" unless rescued")
		}
	case c.HoldEnabled && c.SafeToDelete(now):
		c.State = StateProtected
		c.Explain(ReasonUnspecified, "Litigation Hold in effect: safe to delete")
	case c.HoldEnabled:
		c.State = StateProtecting
		c.Explain(ReasonUnspecified, "Litigation Hold placed, not yet in effect: not yet safe to delete")
	case (c.State == StateProtecting || c.State == StateProtected) && c.Retained():
		// A read found the hold gone from the active mailbox (an admin
		// removed it): the confirmation PlanCase asks for places it again.
		c.State = StateProtecting
		c.Explain(ReasonUnspecified, "Litigation Hold no longer on the mailbox: placing it again")
	case c.State == StateUnconfirmed:
		// The readings agree with the directory again and nothing else
		// applies.
		c.State = StateTracking
		c.Explain(ReasonUnspecified, "Exchange shows the mailbox where the directory says")
	}
	if c.State != prev {
		o.log("transition", "ok", fmt.Sprintf("%s -> %s: %s", prev, c.State, c.Reason))
	}
	if c.State == StatePurged && prev != StatePurged {
		sev, remedy := SeverityWarning, ""
		if c.Retained() {
			sev, remedy = SeverityCritical, "the mailbox policy said to keep is gone; check for a content search export or backups"
		}
		details := map[string]string{}
		if c.ReasonKind == ReasonExchangeGUIDConflict {
			details["conflict"] = "exchangeGuid"
			remedy = c.Reason + ". Check backups for the lost content; to stop it happening again, restore a leaver's user from the recycle bin instead of re-syncing a new account for them, or clear the on-premises mailbox GUID (msExchMailboxGuid) before the account is synced again"
		}
		o.alert(Alert{ID: c.Key + ":purged", Kind: AlertPurged, Severity: sev, Action: "none: mailbox purged", Remedy: remedy, Details: details})
	}
}

// RehirePath is how a rehire brings the leaver back.
type RehirePath int

const (
	// RehireSettle: nothing to bring back; step FactRehired.
	RehireSettle RehirePath = iota
	// RehireUndoSoftDelete: the mailbox was removed in Exchange and comes
	// back there (Undo-SoftDeletedMailbox), the same-source rule.
	RehireUndoSoftDelete
	// RehireRestoreUser: the user is in the recycle bin: restore it.
	RehireRestoreUser
	// RehireRecoverInactive: the mailbox is inactive: recover it into a
	// new account (New-Mailbox -InactiveMailbox).
	RehireRecoverInactive
)

// PlanRehire says how a rehire brings the leaver back, facts refreshed.
func PlanRehire(c *Case) RehirePath {
	switch {
	case c.DeletedAt != nil && c.UserPurgedAt == nil && c.DeletionSource == DeletedInExchange && c.ExchangeGUID != "":
		return RehireUndoSoftDelete
	case c.DeletedAt != nil && c.UserPurgedAt == nil:
		return RehireRestoreUser
	case c.MailboxInactive && c.MailboxPurgedAt == nil:
		return RehireRecoverInactive
	}
	return RehireSettle
}

// DurationLabel renders a hold duration as Set-Mailbox shows it.
func DurationLabel(days int) string {
	if days <= 0 {
		return "Unlimited"
	}
	return fmt.Sprintf("%dd", days)
}

// DeadlineText renders the case's deadline for an admin.
func DeadlineText(c *Case) string {
	if c.Deadline == nil {
		return "it is purged"
	}
	return c.Deadline.Format(time.RFC3339)
}

func rootFolders(c *Case) string {
	s := ""
	for i, j := range c.Restores {
		if i > 0 {
			s += "\", \""
		}
		s += j.TargetRootFolder
	}
	return s
}

// warnSeverity: the last three days are critical.
func warnSeverity(d time.Duration) Severity {
	if d <= 3*24*time.Hour {
		return SeverityCritical
	}
	return SeverityWarning
}

// NameRequest ends the detail of an audit row that records a tenant write
// with the client-request-id the write was sent with, the one form every
// such row uses, so an admin (or Microsoft support) can search for it.
func NameRequest(detail, requestID string) string {
	return detail + " client-request-id=" + requestID
}
