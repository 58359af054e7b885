package integration

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxyMode is what a cut proxy does to the traffic through it.
type proxyMode int

const (
	// proxyOpen forwards everything.
	proxyOpen proxyMode = iota
	// proxyBlackhole stalls every connection, old and new, as a network
	// that drops packets does: bytes already read are held, nothing is
	// delivered either way, and no one is told. The peers find out only
	// through their own timeouts; after a heal the held bytes flow again
	// (TCP would have retransmitted them), unless a peer gave up and
	// closed its side meanwhile.
	proxyBlackhole
	// proxyReset closes every connection and every new one at once, as a
	// peer that answers with RST does.
	proxyReset
)

func (m proxyMode) String() string {
	switch m {
	case proxyOpen:
		return "open"
	case proxyBlackhole:
		return "blackhole"
	case proxyReset:
		return "reset"
	}
	return "unknown"
}

// faultProxy is a TCP proxy on 127.0.0.1 that a test places in front of a
// listener and cuts to simulate a network partition. It owns every
// goroutine it starts; close stops them and waits.
type faultProxy struct {
	t      testing.TB
	name   string
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   proxyMode
	gate   chan struct{} // closed while open; replaced by an open one on a cut
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// startFaultProxy listens on a free port and forwards to target.
func startFaultProxy(t testing.TB, name, target string) *faultProxy {
	t.Helper()
	ln := listenClaimed(t)
	gate := make(chan struct{})
	close(gate)
	p := &faultProxy{t: t, name: name, ln: ln, target: target, gate: gate, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

// cut starts dropping traffic in the given mode.
func (p *faultProxy) cut(mode proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || mode == proxyOpen {
		return
	}
	if p.mode == proxyOpen {
		p.gate = make(chan struct{})
	}
	p.mode = mode
	if mode == proxyReset {
		for c := range p.conns {
			c.Close()
		}
	}
}

// heal forwards again; stalled connections resume.
func (p *faultProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == proxyOpen {
		return
	}
	p.mode = proxyOpen
	close(p.gate)
}

func (p *faultProxy) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	if p.mode != proxyOpen {
		p.mode = proxyOpen
		close(p.gate)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track registers c so cut(proxyReset) and close can close it; false when
// c must be closed at once.
func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == proxyReset {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *faultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// wait blocks while the proxy is blackholed; false when traffic through
// it must stop for good (reset or closed).
func (p *faultProxy) wait() bool {
	for {
		p.mu.Lock()
		mode, gate, closed := p.mode, p.gate, p.closed
		p.mu.Unlock()
		switch {
		case closed || mode == proxyReset:
			return false
		case mode == proxyOpen:
			return true
		}
		<-gate
	}
}

func (p *faultProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Logf("proxy %s: accept: %v", p.name, err)
			}
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve connects c to the target once traffic may flow and pumps bytes
// both ways until either side closes.
func (p *faultProxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	defer c.Close()
	if !p.wait() {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { p.pump(up, c); done <- struct{}{} }()
	go func() { p.pump(c, up); done <- struct{}{} }()
	<-done
	// One direction ended: end the other too, as a proxy must.
	c.Close()
	up.Close()
	<-done
}

// pump copies src to dst, holding what it read while the proxy is cut.
func (p *faultProxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			// EOF or a closed socket: either way this direction is over.
			return
		}
	}
}

// TestFaultProxyCutsAndHeals checks the proxy the fault suite relies on:
// open, it forwards; blackholed, nothing arrives but nothing is lost, and
// the held bytes flow after the heal; reset, connections are closed and
// new ones refused until the heal.
func TestFaultProxyCutsAndHeals(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	p := startFaultProxy(t, "echo", echo.Addr().String())
	roundTrip := func(c net.Conn, msg string, within time.Duration) (string, error) {
		c.SetDeadline(time.Now().Add(within))
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		return string(buf), err
	}
	c, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "open", 5*time.Second); err != nil || got != "open" {
		t.Fatalf("open proxy: %q %v", got, err)
	}

	p.cut(proxyBlackhole)
	if got, err := roundTrip(c, "held", 200*time.Millisecond); err == nil {
		t.Fatalf("blackholed proxy delivered %q", got)
	}
	p.heal()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after the heal: %q %v, want the held bytes", buf, err)
	}

	p.cut(proxyReset)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("reset proxy left the connection open")
	}
	c2, err := net.Dial("tcp", p.addr())
	if err == nil {
		c2.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c2.Read(buf); err == nil {
			t.Fatal("reset proxy accepted a new connection")
		}
		c2.Close()
	}
	p.heal()
	c3, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got, err := roundTrip(c3, "again", 5*time.Second); err != nil || got != "again" {
		t.Fatalf("healed proxy: %q %v", got, err)
	}
}
