package archive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/live"
)

// Record kinds in the index.
const (
	KindInit    = "init"
	KindSegment = "seg"
)

// Record is one line of a stream's index.
type Record struct {
	Kind      string `json:"k"`
	Rendition string `json:"r"`
	Session   int    `json:"s"`
	// Init records: the rendition's description for playlists.
	Video     bool       `json:"video,omitempty"`
	Timescale int64      `json:"ts,omitempty"`
	Info      *cmaf.Info `json:"info,omitempty"`
	// Segment records.
	MSN      int64     `json:"msn,omitempty"`
	Disc     bool      `json:"disc,omitempty"`
	DiscSeq  int64     `json:"dseq,omitempty"`
	Start    int64     `json:"start,omitempty"`
	PDT      time.Time `json:"pdt,omitzero"`
	Duration int64     `json:"dur,omitempty"`
	Size     int       `json:"size,omitempty"`
}

// End is the wall-clock end of a segment record.
func (r Record) End(timescale int64) time.Time { return r.PDT.Add(live.Dur(r.Duration, timescale)) }

// Rendition is the archived part of one rendition.
type Rendition struct {
	Name      string
	Video     bool
	Timescale int64
	Info      cmaf.Info
	// Inits are the sessions whose init section is archived.
	Inits map[int]bool
	// Segments are in MSN order.
	Segments []Record
}

// Index is the archived state of one stream, as replay reads it.
type Index struct {
	Stream     string
	Renditions []*Rendition // video first, then by name
	Bytes      int64
}

// Rendition finds a rendition by name.
func (x *Index) Rendition(name string) *Rendition {
	for _, r := range x.Renditions {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Span returns the wall-clock times of the first segment's start and the last
// segment's end over all renditions; ok is false for an empty index.
func (x *Index) Span() (from, to time.Time, ok bool) {
	for _, r := range x.Renditions {
		if len(r.Segments) == 0 || r.Timescale <= 0 {
			continue
		}
		f, t := r.Segments[0].PDT, r.Segments[len(r.Segments)-1].End(r.Timescale)
		if !ok || f.Before(from) {
			from = f
		}
		if !ok || t.After(to) {
			to = t
		}
		ok = true
	}
	return from, to, ok
}

// add applies one record; it returns false for a duplicate (a record
// replayed after a crash between the file write and the index append).
func (x *Index) add(rec Record) bool {
	r := x.Rendition(rec.Rendition)
	if r == nil {
		r = &Rendition{Name: rec.Rendition, Inits: map[int]bool{}}
		x.Renditions = append(x.Renditions, r)
		sort.SliceStable(x.Renditions, func(i, j int) bool {
			a, b := x.Renditions[i], x.Renditions[j]
			if a.Video != b.Video {
				return a.Video
			}
			return a.Name < b.Name
		})
	}
	switch rec.Kind {
	case KindInit:
		if r.Inits[rec.Session] {
			return false
		}
		r.Inits[rec.Session] = true
		r.Video, r.Timescale = rec.Video, rec.Timescale
		if rec.Info != nil {
			r.Info = *rec.Info
		}
		if rec.Video != r.Video {
			sort.SliceStable(x.Renditions, func(i, j int) bool { return x.Renditions[i].Video && !x.Renditions[j].Video })
		}
	case KindSegment:
		n := len(r.Segments)
		if n > 0 && r.Segments[n-1].MSN >= rec.MSN {
			return false // MSNs only grow: the state file reserves them before use
		}
		r.Segments = append(r.Segments, rec)
		x.Bytes += int64(rec.Size)
	default:
		return false
	}
	return true
}

// clone copies the index for a reader; segment slices are shared but never
// modified in place (appends and trims make new headers).
func (x *Index) clone() *Index {
	c := &Index{Stream: x.Stream, Bytes: x.Bytes, Renditions: make([]*Rendition, len(x.Renditions))}
	for i, r := range x.Renditions {
		cr := *r
		cr.Segments = r.Segments[:len(r.Segments):len(r.Segments)]
		cr.Inits = make(map[int]bool, len(r.Inits))
		for k, v := range r.Inits {
			cr.Inits[k] = v
		}
		c.Renditions[i] = &cr
	}
	return c
}

// loadIndex reads an index file. A torn last line (a crash mid-append) is
// cut off, so the file stays a clean sequence of records to append to; any
// other bad line is an error, because silently dropping the middle of an
// archive would hide data loss.
func loadIndex(path, stream string) (*Index, error) {
	x := &Index{Stream: stream}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return x, nil
	}
	if err != nil {
		return nil, err
	}
	good := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		var rec Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			if good+len(raw) >= len(bytes.TrimRight(b, "\n")) { // the last line
				break
			}
			return nil, fmt.Errorf("index %s line %d: %v", path, line, err)
		}
		x.add(rec)
		good += len(raw) + 1
	}
	if good < len(b) {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func marshalRecords(recs []Record) []byte {
	var buf bytes.Buffer
	for _, r := range recs {
		line, _ := json.Marshal(r)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
