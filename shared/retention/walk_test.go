package retention

import "sort"

// walk is the breadth-first search the three explorations share: every
// sequence of moves up to depth from the starting states, each state (by
// key) expanded once, the invariants checked across every transition.
type walk[W any] struct {
	key func(W) string
	// expandable: false for a final state, whose successors are not explored.
	expandable func(W) bool
	moves      []string
	// step plays move i from w; ok false when it does not apply there; inv
	// names the invariant the transition breaks ("" for none).
	step func(w W, i int) (next W, ok bool, inv, detail string)
	// visit sees every new state, starts included (for per-state counts).
	visit func(W)
}

type walked struct {
	states, transitions int
	violations          []violation
}

// named is a starting state.
type named[W any] struct {
	name string
	w    W
}

// byName lists starting states in name order, so a walk is the same on
// every run.
func byName[W any](starts map[string]W) []named[W] {
	names := make([]string, 0, len(starts))
	for n := range starts {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]named[W], 0, len(names))
	for _, n := range names {
		out = append(out, named[W]{n, starts[n]})
	}
	return out
}

// moveNames lists the names of moves, in order.
func moveNames[M any](moves []M, name func(M) string) []string {
	out := make([]string, len(moves))
	for i, m := range moves {
		out[i] = name(m)
	}
	return out
}

// run explores from starts, stopping at the first violation of stopAt if
// given.
func (wk walk[W]) run(starts []named[W], depth int, stopAt string) walked {
	type node struct {
		w     W
		trail []string
	}
	var out walked
	seen := map[string]bool{}
	var frontier []node
	add := func(w W, trail []string) bool {
		k := wk.key(w)
		if seen[k] {
			return false
		}
		seen[k] = true
		out.states++
		if wk.visit != nil {
			wk.visit(w)
		}
		frontier = append(frontier, node{w, trail})
		return true
	}
	for _, s := range starts {
		add(s.w, []string{"start:" + s.name})
	}
	for d := 0; d < depth && len(frontier) > 0; d++ {
		current := frontier
		frontier = nil
		for _, n := range current {
			if wk.expandable != nil && !wk.expandable(n.w) {
				continue
			}
			for i, name := range wk.moves {
				w, ok, inv, detail := wk.step(n.w, i)
				if !ok {
					continue
				}
				out.transitions++
				trail := append(append([]string(nil), n.trail...), name)
				if inv != "" {
					out.violations = append(out.violations, violation{inv, trail, detail})
					if inv == stopAt {
						return out
					}
					continue
				}
				add(w, trail)
			}
		}
	}
	return out
}
