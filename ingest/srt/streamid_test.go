package srt

import (
	"errors"
	"testing"

	"github.com/livecdn/livecdn/ingest"
)

func TestParseStreamID(t *testing.T) {
	for _, tc := range []struct {
		in        string
		name, key string
		err       error
	}{
		{in: "publish:live/test", name: "test"},
		{in: "publish:/live/test", name: "test"},
		{in: "publish:live/test?key=s3cret", name: "test", key: "s3cret"},
		{in: "publish:live/test?key=a%3Ab", name: "test", key: "a:b"},
		{in: "publish:live/test:s3cret", name: "test", key: "s3cret"},
		{in: "publish:live/test:a:b", name: "test", key: "a:b"},
		{in: "#!::r=live/test,m=publish,key=K", name: "test", key: "K"},
		{in: "#!::m=publish,r=/live/test,u=bob,key=K", name: "test", key: "K"},
		{in: "#!::r=live/test?key=Q,m=publish", name: "test", key: "Q"},
		{in: "#!::r=live/test,m=publish", name: "test"},
		{in: "publish%3Alive%2Ftest%3Fkey%3Dk1", name: "test", key: "k1"},
		{in: "publish%3Alive%2Ftest%3As%2B1", name: "test", key: "s+1"},
		{in: "%23%21%3A%3Ar%3Dlive%2Ftest%2Cm%3Dpublish%2Ckey%3DK", name: "test", key: "K"},
		{in: "publish%3Alive%2Fa.b", err: ingest.ErrBadName},
		{in: "#!::r=live/test", err: ErrNotPublish},
		{in: "#!::r=live/test,m=request", err: ErrNotPublish},
		{in: "read:live/test", err: ErrNotPublish},
		{in: "request:live/test", err: ErrNotPublish},
		{in: "", err: ingest.ErrBadName},
		{in: "live/test", err: ingest.ErrBadName},
		{in: "publish:", err: ingest.ErrBadName},
		{in: "publish:live/", err: ingest.ErrBadName},
		{in: "publish:vod/test", err: ingest.ErrBadName},
		{in: "publish:live/../x", err: ingest.ErrBadName},
		{in: "publish:live/a.b", err: ingest.ErrBadName},
		{in: "publish:live/test:", err: ingest.ErrBadName},
		{in: "#!::", err: ingest.ErrBadName},
		{in: "#!::m=publish", err: ingest.ErrBadName},
		{in: "#!::r=live/a,r=live/b,m=publish", err: ingest.ErrBadName},
		{in: "#!::r=live/a,junk,m=publish", err: ingest.ErrBadName},
	} {
		name, key, err := ParseStreamID(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q: err = %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || name != tc.name || key != tc.key {
			t.Errorf("%q = (%q, %q, %v), want (%q, %q)", tc.in, name, key, err, tc.name, tc.key)
		}
	}
}

func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{
		"publish:live/test", "publish:live/test?key=k", "publish:live/test:k",
		"#!::r=live/test,m=publish,key=k", "read:live/x", "#!::r=,m=", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, _, err := ParseStreamID(in)
		if err != nil {
			if name != "" {
				t.Fatalf("name %q returned with error %v", name, err)
			}
			return
		}
		if !ingest.ValidName(name) {
			t.Fatalf("%q gave invalid name %q", in, name)
		}
	})
}
