package sim

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Area mailboxes: identity resolution and scopes of the Exchange cmdlets,
// the mailbox as Get-Mailbox shows it, and the hold and purge transitions.

type scope int

const (
	scopeActive scope = iota
	scopeSoftDeleted
	scopeInactiveOnly
	scopeIncludeInactive
	scopeAnyDeleted // soft-deleted or inactive (restore sources)
)

func (s *Sim) inScope(m *mailbox, sc scope) bool {
	active := m.state == mbActive && m.user != nil && m.user.state == userActive
	switch sc {
	case scopeActive:
		return active
	case scopeSoftDeleted, scopeAnyDeleted:
		return m.state == mbSoftDeleted || m.state == mbInactive
	case scopeInactiveOnly:
		return m.state == mbInactive
	case scopeIncludeInactive:
		return active || m.state == mbInactive
	}
	return false
}

func identityMatches(m *mailbox, id string) bool {
	for _, v := range []string{m.ExchangeGuid, m.Guid, m.DN, m.LegacyDN, m.UPN, m.PrimarySMTP, m.Alias, m.Name, m.userID} {
		if v != "" && strings.EqualFold(v, id) {
			return true
		}
	}
	return false
}

func (s *Sim) resolve(id string, sc scope) (*mailbox, *exError) {
	id = strings.TrimSpace(id)
	var in []*mailbox
	for _, m := range s.mailboxCandidates(id) {
		if s.inScope(m, sc) {
			in = append(in, m)
		}
	}
	return resolveIn(in, id)
}

// resolveIn finds the one mailbox of ms that id names.
func resolveIn(ms []*mailbox, id string) (*mailbox, *exError) {
	id = strings.TrimSpace(id)
	var found []*mailbox
	for _, m := range ms {
		if identityMatches(m, id) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return nil, notFoundErr(id)
	case 1:
		return found[0], nil
	}
	return nil, &exError{status: 400, category: catInvalidArgument, class: clsAmbiguous, target: id,
		msg: fmt.Sprintf("The operation couldn't be performed because '%s' matches multiple entries.", id)}
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// dnOrGUID reports whether id is a DistinguishedName or a GUID: the only
// identities that are unique among active and inactive mailboxes.
func dnOrGUID(id string) bool {
	return guidRe.MatchString(id) || strings.HasPrefix(strings.ToUpper(id), "CN=")
}

func (s *Sim) mailboxJSON(m *mailbox) map[string]any {
	var holdDate any
	if m.holdEnabled {
		holdDate = exDate(m.holdSetAt)
	}
	archiveStatus, archiveState, archiveName := "None", "None", []any{}
	if m.hasArchive {
		archiveStatus, archiveState = "Active", "HostedProvisioned"
		archiveName = []any{"In-Place Archive - " + m.DisplayName}
	}
	softStatus := 0
	if m.state == mbSoftDeleted || m.state == mbInactive {
		softStatus = 1
	}
	holds := append([]any{}, anySlice(m.inPlaceHolds)...)
	caps := []any{}
	if m.user != nil && m.user.state == userActive {
		for _, a := range m.user.Licenses {
			for _, p := range a.SKU.Plans {
				switch p.Name {
				case planExchangeEnterprise.Name:
					caps = append(caps, "BPOS_S_Enterprise")
				case planExchangeStandard.Name:
					caps = append(caps, "BPOS_S_Standard")
				}
			}
		}
	}
	accountDisabled := m.user == nil || m.user.state != userActive || !m.user.AccountEnabled
	return map[string]any{
		"Identity": m.Name, "Id": m.Name, "Name": m.Name, "Alias": m.Alias, "DisplayName": m.DisplayName,
		"UserPrincipalName": m.UPN, "PrimarySmtpAddress": m.PrimarySMTP, "WindowsEmailAddress": m.PrimarySMTP,
		"MicrosoftOnlineServicesID": m.UPN,
		"EmailAddresses":            append([]any{"SMTP:" + m.PrimarySMTP}, anySlice(m.x500)...),
		"Guid":                      m.Guid, "Guid@odata.type": "#Guid", "ExchangeObjectId": m.Guid,
		"ExchangeGuid": m.ExchangeGuid, "ExchangeGuid@odata.type": "#Guid",
		"ArchiveGuid": m.ArchiveGuid, "ArchiveGuid@odata.type": "#Guid",
		"ArchiveStatus": archiveStatus, "ArchiveState": archiveState, "ArchiveName": archiveName,
		"AutoExpandingArchiveEnabled": m.autoExpanding,
		"DistinguishedName":           m.DN, "LegacyExchangeDN": m.LegacyDN,
		"ExternalDirectoryObjectId": m.userID,
		"RecipientType":             "UserMailbox", "RecipientTypeDetails": "UserMailbox",
		"LitigationHoldEnabled": m.holdEnabled, "LitigationHoldDate": holdDate,
		"LitigationHoldDuration": m.holdDuration, "LitigationHoldOwner": m.holdOwner,
		"RetentionComment": m.retentionComment, "RetentionUrl": m.retentionURL,
		"InPlaceHolds": holds, "ComplianceTagHoldApplied": false, "DelayHoldApplied": false,
		"DelayReleaseHoldApplied": false, "WasInactiveMailbox": m.wasInactive,
		"InactiveMailboxRetireTime": nil, "OrphanSoftDeleteTrackingTime": nil,
		"IsInactiveMailbox": m.state == mbInactive, "IsSoftDeletedByRemove": m.byRemove && m.state != mbActive,
		"IsSoftDeletedByDisable": m.byDisable && m.state != mbActive,
		"WhenSoftDeleted":        exDatePtr(m.softDeletedAt), "WhenSoftDeletedUTC": exDateUTCPtr(m.softDeletedAt),
		"RecipientSoftDeletedStatus": softStatus,
		"RetentionHoldEnabled":       m.retentionHold, "RetainDeletedItemsFor": m.retainDeleted,
		"SingleItemRecoveryEnabled": true, "PersistedCapabilities": caps,
		"IsDirSynced": m.user != nil && m.user.Synced, "AccountDisabled": accountDisabled,
		"IsMailboxEnabled": true,
		"WhenCreated":      exDate(m.created), "WhenCreatedUTC": exDateUTC(m.created),
		"WhenChanged": exDate(s.now()), "WhenChangedUTC": exDateUTC(s.now()),
		"Database": "NAMPR01DG001-db001",
	}
}

// holdEffective reports whether a hold protects m at t: a Litigation Hold
// set at least HoldPropagation before t, or any in-place hold.
func (s *Sim) holdEffective(m *mailbox, t time.Time) bool {
	if len(m.inPlaceHolds) > 0 {
		return true
	}
	return m.holdEnabled && !t.Before(m.holdSetAt.Add(s.opts.HoldPropagation))
}

// purgeMailbox hard-deletes m's content at t and counts what was lost.
func (s *Sim) purgeMailbox(m *mailbox, t time.Time, reason string) {
	if m.state == mbPurged {
		return
	}
	lost := max(0, m.items-m.savedPrimary) + max(0, m.archiveItems-m.savedArchive)
	m.itemsLost += lost
	m.savedPrimary, m.savedArchive = min(m.savedPrimary, m.items), min(m.savedArchive, m.archiveItems)
	m.items, m.archiveItems = 0, 0
	m.state = mbPurged
	m.purgeAt = nil
	m.lostAt = tp(t)
	m.lostReason = reason
	s.log.Info().Str("mailbox", m.reportKey).Int("itemsLost", lost).Str("reason", reason).Msg("sim: mailbox purged")
	for _, r := range s.requests {
		if (r.source == m || r.target == m) && restoreActive(r.status) {
			r.status = "Failed"
			r.failedAt = tp(t)
			r.failureType = "MailboxNotFoundPermanentException"
			r.failureMsg = "The source or target mailbox was permanently deleted."
		}
	}
}

// setHold enables Litigation Hold on m at t. Enabling an enabled hold does
// not restart propagation.
func (s *Sim) setHold(m *mailbox, t time.Time) {
	if !m.holdEnabled {
		m.holdEnabled = true
		m.holdSetAt = t
	}
	if m.holdOwner == "" {
		m.holdOwner = "holdfast@" + s.opts.Domain
	}
}

// removeHold disables Litigation Hold on m at t and applies the
// consequences: an inactive mailbox becomes soft-deleted again, or is
// purged when its 30 days are over.
func (s *Sim) removeHold(m *mailbox, t time.Time) {
	m.holdEnabled = false
	m.holdSetAt = time.Time{}
	switch m.state {
	case mbInactive:
		if len(m.inPlaceHolds) > 0 {
			return
		}
		del := t
		if m.softDeletedAt != nil {
			del = *m.softDeletedAt
		}
		if t.Sub(del) > retentionWindow {
			s.purgeMailbox(m, t, "hold removed from an inactive mailbox deleted more than 30 days ago")
			return
		}
		m.state = mbSoftDeleted
		m.purgeAt = tp(del.Add(retentionWindow))
		s.touch(m)
	case mbActive:
		if m.graceKept {
			s.purgeMailbox(m, t, "hold removed after the licence grace period ended")
		}
	}
}
