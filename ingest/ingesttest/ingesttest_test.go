package ingesttest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
)

func TestRecorderWaits(t *testing.T) {
	r := NewRecorder()
	go func() {
		for _, name := range []string{"a", "b"} {
			sink, _ := r.Publish(&ingest.Stream{Name: name})
			for i := range 10 {
				_ = sink.WriteUnit(&ingest.Unit{Track: i % 2, DTS: int64(i)})
			}
			sink.Close()
		}
	}()
	a := r.WaitStream(t, "a", 5*time.Second)
	a.WaitUnits(t, 5, 5*time.Second)
	a.WaitMoreUnits(t, 0, 5*time.Second)
	a.WaitUnits(t, 10, 5*time.Second)
	a.WaitClosed(t, 5*time.Second)
	if got := r.WaitStreams(t, 2, 5*time.Second); len(got) != 2 || got[0] != a || got[1].Name != "b" {
		t.Fatalf("streams %v", got)
	}
	if v := a.TrackUnits(1); len(v) != 5 || v[0].DTS != 1 || v[4].DTS != 9 {
		t.Fatalf("track 1 units %+v", v)
	}
	if r.Stream("c") != nil || r.NumStreams() != 2 || a.NumUnits() != 10 || len(a.Units()) != 10 {
		t.Fatal("recorder state")
	}
}

// fatalTB records a Fatalf and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitTimesOut(t *testing.T) {
	r := NewRecorder()
	sink, _ := r.Publish(&ingest.Stream{Name: "a"})
	a := sink.(*Recording)
	for _, wait := range []func(tb testing.TB){
		func(tb testing.TB) { r.WaitStreams(tb, 2, 10*time.Millisecond) },
		func(tb testing.TB) { r.WaitStream(tb, "b", 10*time.Millisecond) },
		func(tb testing.TB) { a.WaitUnits(tb, 1, 10*time.Millisecond) },
		func(tb testing.TB) { a.WaitMoreUnits(tb, 1, 10*time.Millisecond) },
		func(tb testing.TB) { a.WaitClosed(tb, 10*time.Millisecond) },
	} {
		f := &fatalTB{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); wait(f) }()
		<-done
		if f.msg == "" {
			t.Error("wait returned without failing the test")
		}
		t.Log(f.msg)
	}
}

func TestSession(t *testing.T) {
	var s Session
	if err := s.WriteUnit(&ingest.Unit{}); err == nil {
		t.Fatal("WriteUnit before Start accepted")
	}
	tracks := []*ingest.Track{{ClockRate: 90000}, {ClockRate: 48000}}
	if err := s.Start(tracks); err != nil {
		t.Fatal(err)
	}
	_ = s.WriteUnit(&ingest.Unit{Track: 1, PTS: 7})
	_ = s.WriteUnit(&ingest.Unit{Track: 0, PTS: 8})
	if s.Starts() != 1 || len(s.Tracks()) != 2 || len(s.Units()) != 2 {
		t.Fatalf("starts %d tracks %d units %d", s.Starts(), len(s.Tracks()), len(s.Units()))
	}
	if u := s.TrackUnits(1); len(u) != 1 || u[0].PTS != 7 || !u[0].Received.IsZero() {
		t.Fatalf("track 1 units %+v", u)
	}
}

func TestLogs(t *testing.T) {
	var l Logs
	l.Logger().Debug("hello", "k", 1)
	if got := l.String(); !strings.Contains(got, "msg=hello k=1") {
		t.Fatalf("logs %q", got)
	}
}
