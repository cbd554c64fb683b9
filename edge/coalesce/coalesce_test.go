package coalesce

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livecdn/livecdn/edge/cache"
)

func TestOneFetchManyReadersWhileWriting(t *testing.T) {
	g := New()
	defer g.Close()
	var fetches atomic.Int32
	release := make(chan struct{})
	fetch := func(ctx context.Context, o *cache.Object) {
		fetches.Add(1)
		o.SetHeader(200, http.Header{})
		o.Append([]byte("first"))
		<-release
		o.Append([]byte("-second"))
		o.Finish(nil)
	}
	const n = 500
	var wg sync.WaitGroup
	firsts := make(chan string, n)
	bodies := make(chan string, n)
	leaders := atomic.Int32{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, leader := g.Do("k", fetch)
			if leader {
				leaders.Add(1)
			}
			ctx := context.Background()
			b, _, err := o.Next(ctx, 0)
			if err != nil {
				t.Error(err)
				return
			}
			firsts <- string(b)
			body := string(b)
			for off := len(b); ; {
				b, done, err := o.Next(ctx, off)
				if err != nil {
					t.Error(err)
					return
				}
				body += string(b)
				off += len(b)
				if done {
					break
				}
			}
			bodies <- body
		}()
	}
	// Every reader sees the first bytes before the fetch is allowed to finish.
	for i := 0; i < n; i++ {
		select {
		case f := <-firsts:
			if f != "first" {
				t.Fatalf("first read %q", f)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d readers got bytes before the body completed", i)
		}
	}
	close(release)
	wg.Wait()
	close(bodies)
	for b := range bodies {
		if b != "first-second" {
			t.Fatalf("body %q", b)
		}
	}
	if fetches.Load() != 1 || leaders.Load() != 1 {
		t.Errorf("%d fetches, %d leaders; want 1, 1", fetches.Load(), leaders.Load())
	}
}

func TestFailedFetchFailsWaitersAndIsForgotten(t *testing.T) {
	g := New()
	defer g.Close()
	boom := errors.New("boom")
	o, _ := g.Do("k", func(ctx context.Context, o *cache.Object) { o.Finish(boom) })
	if _, _, err := o.WaitHeader(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("waiter got %v", err)
	}
	for g.Len() != 0 {
		time.Sleep(time.Millisecond)
	}
	if _, leader := g.Do("k", func(ctx context.Context, o *cache.Object) { o.Finish(nil) }); !leader {
		t.Error("a failed fetch stayed in flight")
	}
}

// A waiter that gives up does not cancel the fetch the others wait for.
func TestWaiterCancelDoesNotCancelFetch(t *testing.T) {
	g := New()
	defer g.Close()
	started := make(chan struct{})
	fetch := func(ctx context.Context, o *cache.Object) {
		close(started)
		select {
		case <-time.After(50 * time.Millisecond):
			o.SetHeader(200, nil)
			o.Append([]byte("ok"))
			o.Finish(nil)
		case <-ctx.Done():
			o.Finish(ctx.Err())
		}
	}
	o, _ := g.Do("k", fetch)
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := o.WaitHeader(ctx); err == nil {
		t.Fatal("cancelled waiter got a header")
	}
	b, done, err := o.Next(context.Background(), 0)
	if err != nil || string(b) != "ok" || !done {
		t.Fatalf("other waiter: %q %v %v", b, done, err)
	}
}

// A flight that failed but is not yet forgotten is not joined: a viewer
// retrying at once gets a new fetch, not the old error.
func TestFailedFlightNotJoined(t *testing.T) {
	g := New()
	defer g.Close()
	failed, release := make(chan struct{}), make(chan struct{})
	first, leader := g.Do("k", func(ctx context.Context, o *cache.Object) {
		o.Finish(errors.New("upstream died"))
		close(failed)
		<-release // still in flight as far as the group knows
	})
	if !leader {
		t.Fatal("first caller is not the leader")
	}
	<-failed
	second, leader := g.Do("k", func(ctx context.Context, o *cache.Object) {
		o.SetHeader(http.StatusOK, http.Header{})
		o.Append([]byte("ok"))
		o.Finish(nil)
	})
	close(release)
	if !leader || second == first {
		t.Fatal("joined a flight that had already failed")
	}
}
