package opendsr

import (
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Callback URLs come from controllers, so a callback must not become a way
// into the processor's own network: the cloud's metadata service, an admin
// port on 10.x, the engine's loopback. The check runs in the dialer, on
// the address actually connected to, after DNS: a name that resolves to a
// private address (or starts to, between the check and the connection)
// is refused all the same.

// blockedNets are the ranges no callback may reach besides what the net
// package names (loopback, private, link-local, multicast, unspecified).
var blockedNets = func() []*net.IPNet {
	var out []*net.IPNet
	for _, cidr := range []string{
		"0.0.0.0/8",      // "this network"
		"100.64.0.0/10",  // carrier-grade NAT
		"192.0.0.0/24",   // IETF protocol assignments
		"198.18.0.0/15",  // benchmarking
		"240.0.0.0/4",    // reserved, and the broadcast address
		"64:ff9b::/96",   // NAT64, which maps onto any IPv4 address
		"64:ff9b:1::/48", // local-use NAT64
		"2001:db8::/32",  // documentation
		"fec0::/10",      // deprecated site-local
	} {
		_, n, _ := net.ParseCIDR(cidr)
		out = append(out, n)
	}
	return out
}()

// blocked says why a callback may not reach ip, or "".
func blocked(ip net.IP, allowLoopback bool) string {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	switch {
	case ip.IsLoopback():
		if allowLoopback {
			return ""
		}
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local address (such as a cloud metadata service)"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "a multicast address"
	case ip.IsUnspecified():
		return "an unspecified address"
	}
	for _, n := range blockedNets {
		if n.Contains(ip) {
			return "a reserved address"
		}
	}
	return ""
}

// callbackClient sends callbacks: every connection is checked in the
// dialer, redirects are not followed (they could lead anywhere), no proxy
// from the environment is used (it would hide the address), and a slow
// controller cannot hold a delivery past the timeout.
func callbackClient(allowLoopback bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		if ip == nil {
			return fmt.Errorf("callback to %s refused: not an IP address", host)
		}
		if why := blocked(ip, allowLoopback); why != "" {
			return fmt.Errorf("callback to %s refused: %s", ip, why)
		}
		return nil
	}}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil, TLSHandshakeTimeout: 5 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second, MaxIdleConnsPerHost: 2},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
