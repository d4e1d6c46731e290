package sim

import "strings"

// Identity indexes: Exchange resolves -Identity and Graph resolves
// /users/{id|upn} by key, not by reading every object, and at layoff scale
// (10,000 mailboxes, 40,000 cmdlets) scanning made the simulator the
// harness's largest CPU cost. The indexes only change what the lookups
// cost: they are append-only supersets (every value a mailbox or user ever
// had, under its folded form), and every candidate is checked again with
// the same comparison the scan made (identityMatches, EqualFold), in
// creation order, so scopes, lag views, ambiguity errors and answers are
// exactly what the scan gave.

// foldKey is the index key of an identity: simple case folding as
// strings.EqualFold does it for the letters identities use (ToUpper first
// maps ſ and K to S and K).
func foldKey(v string) string { return strings.ToLower(strings.ToUpper(v)) }

// idIndex maps folded keys to objects, each at most once per key, in the
// order they were added.
type idIndex[T comparable] map[string][]T

func (ix idIndex[T]) add(v T, keys ...string) {
	for _, k := range keys {
		if k == "" {
			continue
		}
		fk := foldKey(k)
		seen := false
		for _, o := range ix[fk] {
			seen = seen || o == v
		}
		if !seen {
			ix[fk] = append(ix[fk], v)
		}
	}
}

func (ix idIndex[T]) get(k string) []T { return ix[foldKey(k)] }

// indexMailbox records m's current identities; call it whenever one of
// them changes (provision, adopt, recovery, ExchangeGuid carried over).
func (s *Sim) indexMailbox(m *mailbox) {
	if s.mbIndex == nil {
		s.mbIndex = idIndex[*mailbox]{}
	}
	s.mbIndex.add(m, m.ExchangeGuid, m.Guid, m.DN, m.LegacyDN, m.UPN, m.PrimarySMTP, m.Alias, m.Name, m.userID)
}

// addUser appends u to the tenant's users and indexes its id and UPN
// (neither changes afterwards).
func (s *Sim) addUser(u *user) {
	s.users = append(s.users, u)
	if s.userIndex == nil {
		s.userIndex = idIndex[*user]{}
	}
	s.userIndex.add(u, u.ID, u.UPN)
}

// mailboxCandidates returns the mailboxes that id names now. Their order
// does not matter: resolveIn answers the one match or that id is
// ambiguous.
func (s *Sim) mailboxCandidates(id string) []*mailbox {
	var out []*mailbox
	for _, m := range s.mbIndex.get(id) {
		if identityMatches(m, id) {
			out = append(out, m)
		}
	}
	return out
}

// userCandidates returns the users whose id or UPN is key, in creation
// order (ids and UPNs of users never change, so the index keeps it).
func (s *Sim) userCandidates(key string) []*user {
	var out []*user
	for _, u := range s.userIndex.get(key) {
		if strings.EqualFold(u.ID, key) || strings.EqualFold(u.UPN, key) {
			out = append(out, u)
		}
	}
	return out
}
