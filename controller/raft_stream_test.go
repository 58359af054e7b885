package controller

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestRaftStreamDialAnnouncesAndHandOffDelivers(t *testing.T) {
	r := newTestRouter(t)
	s := NewRaftStream(r.ln.Addr())
	r.stream.Store(s)
	defer r.close()
	defer s.Close()
	wantEq(t, s.Addr().String(), r.addr())

	dialer := NewRaftStream(nil)
	defer dialer.Close()
	out, err := dialer.Dial(r.addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.Accept() // the router read the magic byte and handed it off
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write([]byte("raft")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(in, buf); err != nil {
		t.Fatal(err)
	}
	wantEq(t, string(buf), "raft") // nothing after the magic byte was lost

	// Closing a stream closes what it handed out, on both sides.
	s.Close()
	if _, err := in.Read(buf); err == nil {
		t.Fatal("accepted connection still open after Close")
	}
	dialer.Close()
	if _, err := out.Write([]byte("x")); err == nil {
		t.Fatal("dialed connection still open after Close")
	}
	if _, err := dialer.Dial(r.addr(), time.Second); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Dial after Close: %v", err)
	}
}

func TestRaftStreamCloseUnblocksAcceptAndHandOff(t *testing.T) {
	s := NewRaftStream(nil)
	accepted := make(chan error, 1)
	go func() {
		_, err := s.Accept()
		accepted <- err
	}()
	a, b := net.Pipe()
	defer b.Close()
	s.Close()
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	s.HandOff(a) // returns at once and closes a
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("connection handed to a closed stream is still open")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRaftConnMagicIsNoKafkaFrame(t *testing.T) {
	// A Kafka frame starts with a big-endian int32 size of at most
	// socket.request.max.bytes (100 MiB): its first byte is at most 0x06.
	const maxRequest = 100 << 20
	if byte(maxRequest>>24) >= RaftConnMagic {
		t.Fatalf("a %d byte request starts with %#x", maxRequest, byte(maxRequest>>24))
	}
}
