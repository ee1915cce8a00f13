package api

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The public form needs no token, so it must not let anyone flood the
// engine. Each client may send a few requests a minute, and all clients
// together a bounded number. A client is its address as the gateway's own
// network sees it: a trusted proxy's X-Forwarded-For counts, nobody
// else's; and an IPv6 client is its /64, which one household gets whole.
const (
	perClient = 5
	perAll    = 120
	window    = time.Minute
)

// limiter counts recent submissions per client and in all. Entries older
// than the window are dropped as it goes, so the table holds at most the
// clients of the last minute.
type limiter struct {
	mu        sync.Mutex
	seen      map[string][]time.Time
	all       []time.Time
	lastSweep time.Time
}

// allow says whether client may submit now, and records it if so. The
// answer says which limit was hit: "" when allowed.
func (l *limiter) allow(client string, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string][]time.Time{}
	}
	if now.Sub(l.lastSweep) >= window {
		for k, times := range l.seen {
			if len(recent(times, now)) == 0 {
				delete(l.seen, k)
			}
		}
		l.lastSweep = now
	}
	mine := recent(l.seen[client], now)
	l.all = recent(l.all, now)
	switch {
	case len(mine) >= perClient:
		l.seen[client] = mine
		return "too many requests from this address"
	case len(l.all) >= perAll:
		l.seen[client] = mine
		return "too many requests to this form just now"
	}
	l.seen[client] = append(mine, now)
	l.all = append(l.all, now)
	return ""
}

// size is how many clients the table holds.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func recent(times []time.Time, now time.Time) []time.Time {
	out := times[:0]
	for _, t := range times {
		if now.Sub(t) < window {
			out = append(out, t)
		}
	}
	return out
}

// clientOf is the key the limiter counts a request under. Behind trusted
// proxies it walks X-Forwarded-For from the right, past the proxies, to
// the first address they did not add themselves; any other sender's
// header is ignored, since anyone can write one.
func clientOf(r *http.Request, proxies []*net.IPNet) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip != nil && trusted(ip, proxies) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := net.ParseIP(strings.TrimSpace(hops[i]))
			if hop == nil {
				break // a malformed hop: the last good address stands
			}
			ip = hop
			if !trusted(hop, proxies) {
				break
			}
		}
	}
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

func trusted(ip net.IP, proxies []*net.IPNet) bool {
	for _, n := range proxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
