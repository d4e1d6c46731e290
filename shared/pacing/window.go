package pacing

import "time"

// window is the service's budget window as inferred from 429s that carry
// Retry-After but no rate headers: how many requests a window allows and
// how long it lasts. The Limiter's requests are grouped into episodes, each
// believed to be one service window: an episode begins with the first
// request after an honoured Retry-After (the service's window has ended by
// then) or, once the window is known, at the estimated end of the previous
// one.
//
// What one episode teaches:
//   - a 429 for a request sent d after an episode that began after an
//     honoured Retry-After: the window lasts longer than d (lo), and the
//     requests answered 2xx in the episode are its budget (the smallest
//     of these seen: an episode of a slow sender can run into the next
//     window, which only makes both too large);
//   - a 2xx for the first request of a new episode, sent d after the
//     previous one began: the window lasts at most d (hi).
//
// Below hi the guess is a whole number of seconds when one fits above the
// longest gap at which a window's first request was refused (only that
// proves a window longer; the time to a 429 may run into the next window)
// (Retry-After counts whole seconds and budgets are stated per second,
// minute or hour), and it stays there once confirmed: a guess that is too
// short costs a 429 and a whole honoured Retry-After, one too long only the
// difference, and a confirmation is only proof for windows that begin with
// the first request after the last one ended (for windows aligned to the
// service's clock, episodes drift against them). When no whole second fits,
// it narrows from hi by halves, at most 5 % at a time, until lo and hi are
// within 3 %. Zero value: nothing learnt, no gating. Guarded by Limiter.mu.
type window struct {
	episode   int64       // current episode, from 1 (0: none yet)
	start     time.Time   // send time of its first request
	prevStart time.Time   // start of the episode before
	ok        int         // requests of this episode answered 2xx
	hit       bool        // a 429 answered a request of this episode
	paused    bool        // a 429 is being honoured: the next request begins an episode
	confirm   bool        // the first answer of this episode bounds the window from above
	byPause   bool        // the episode began after an honoured Retry-After
	held      bool        // the gate held the request about to leave
	recent    []time.Time // send times of the last budget requests, oldest first
	budget    int         // requests a window allows (0: not learnt)
	lo, hi    time.Duration
	spent     time.Duration // shortest time to a 429 in a window begun after a pause (0: none)
	refused   time.Duration // longest gap to a refused first request of a window
	est       time.Duration // guess, lo < est <= hi (0: unknown)
	last429   time.Time
	skew      time.Duration // learnt margin beyond est (see margin)
}

// windowForgotten is how long an inferred window holds without a 429; the
// gating itself keeps 429s away, so a budget cut that has ended is
// forgotten only this way.
const windowForgotten = 5 * time.Minute

// gate returns how long a request must wait (0: it may go now): no more than
// budget requests leave within any est. A sliding count, not the episode's,
// so that a sender slower than the window (a window that rolls over in the
// middle of an episode) cannot put more than the budget into one of the
// service's windows, however they are aligned.
func (w *window) gate(now time.Time) time.Duration {
	if w.budget <= 0 || w.est <= 0 || w.paused || len(w.recent) < w.budget {
		return 0
	}
	d := w.recent[len(w.recent)-w.budget].Add(w.est + w.margin()).Sub(now)
	if d > 0 {
		w.held = true
	}
	return d
}

// maxRecent bounds the memory of send times (a budget larger than this is
// paced only by the service's 429s).
const maxRecent = 100000

// margin covers the time between sending a request and the service
// counting it: a window that begins with the service's receipt of our first
// request ends that much after our estimate. It is 1 % of the window, and
// 5 % after the first request of a window was refused at a whole-second
// guess: a loaded instance or network delays the receipt, which is no
// reason to give up the guess; a second refusal is.
func (w *window) margin() time.Duration { return max(w.skew, w.est/100) }

// send counts a request leaving at now and returns its episode.
func (w *window) send(now time.Time) int64 {
	next := w.episode == 0 || w.paused ||
		(w.budget > 0 && w.est > 0 && !now.Before(w.start.Add(w.est+w.margin())))
	if next {
		if !w.last429.IsZero() && now.Sub(w.last429) > windowForgotten {
			*w = window{episode: w.episode}
		}
		// Only a window that began after an honoured Retry-After, or after
		// the gate held a request for the last one to end, ends where
		// this one begins.
		w.confirm = w.episode > 0 && (w.paused || w.held)
		w.byPause = w.paused
		w.prevStart, w.start = w.start, now
		w.episode++
		w.ok, w.hit, w.paused = 0, false, false
	}
	w.held = false
	if keep := min(max(w.budget, 1), maxRecent); len(w.recent) >= 2*keep {
		w.recent = append(w.recent[:0], w.recent[len(w.recent)-keep:]...) // amortised
	}
	w.recent = append(w.recent, now)
	return w.episode
}

// succeeded records a 2xx (or another answer that is not throttling).
func (w *window) succeeded(tk ticket) {
	if tk.episode == 0 || tk.episode != w.episode {
		return
	}
	w.ok++
	if w.hit && w.ok > w.budget {
		w.budget = w.ok // answers of the episode still in flight at its 429
	}
	if w.confirm && tk.sent.Equal(w.start) {
		w.confirm = false
		if d := w.start.Sub(w.prevStart); w.hi <= 0 || d < w.hi {
			w.hi = d
		}
		w.guess()
	}
}

// throttled records a 429 that asked to wait ra, for the request tk.
func (w *window) throttled(tk ticket, now time.Time, ra time.Duration) {
	w.last429 = now
	if tk.episode == 0 || tk.episode != w.episode {
		return // an answer from an episode already over
	}
	w.paused = true
	if w.hit {
		return // the episode's first 429 has taught what it can
	}
	w.hit = true
	if w.confirm && tk.sent.Equal(w.start) {
		// Refused as the first of an episode: the previous window was
		// still running; the budget is not learnt from an empty episode.
		w.confirm = false
		gap := tk.sent.Sub(w.prevStart)
		if whole := w.est.Truncate(time.Second); w.est == whole && whole > 0 && w.skew < whole/20 {
			w.skew = whole / 20 // perhaps a late receipt, not a longer window: keep the guess once
		} else {
			w.refused = max(w.refused, gap)
		}
		w.start = w.prevStart // it began no window: the next one is measured from the last that did
	} else if w.byPause {
		// A slow sender's episode may outlast a window and run into the
		// next: its time and count are then too large, never too small,
		// so the smallest seen are kept.
		if d := tk.sent.Sub(w.start); w.spent == 0 || d < w.spent {
			w.spent = d
		}
		if w.budget == 0 || w.ok < w.budget {
			w.budget = w.ok
		}
	} else if w.budget > 0 {
		// More than the service allowed went out within est although the
		// gate kept to the budget: windows aligned otherwise than our
		// episodes, or a smaller budget. Shrink it a little.
		w.budget = max(1, w.budget*9/10)
	}
	// Otherwise the episode did not begin with one of the service's
	// windows (the first one began with the instance's first request,
	// perhaps long before any budget bound; a later one at an estimate may
	// straddle two windows): honouring the pause aligns the next episode
	// with a fresh window, which teaches.
	w.lo = max(w.spent, w.refused)
	if w.hi > 0 && w.lo >= w.hi {
		w.hi, w.refused = 0, 0 // contradicted (the episodes were not the service's windows): learn it again
	}
	w.guess()
}

// guess picks est between lo and hi.
func (w *window) guess() {
	s := w.hi.Truncate(time.Second)
	switch {
	case w.hi <= 0:
		w.est = 0
	case s > w.refused && s < w.hi:
		// Only a refused first request proves the window longer than s;
		// the time to a 429 may have run into the next window.
		w.est = s
	case w.hi-w.lo <= w.hi*3/100:
		w.est = w.hi
	default:
		w.est = max(w.lo+(w.hi-w.lo)/2, w.hi-w.hi/20)
	}
}
