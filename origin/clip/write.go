package clip

import (
	"bytes"

	"github.com/Eyevinn/mp4ff/mp4"
)

// movieTimescale is the mvhd timescale: milliseconds are precise enough for
// track durations, which is all it measures.
const movieTimescale = 1000

// chunk is a run of one track's samples from one source segment; chunks of
// the tracks are interleaved in segment order so the file streams well.
type chunk struct {
	track, first, count int
	size                uint64
}

// write lays out ftyp, moov (sample tables) and mdat.
func write(tracks []*track) ([]byte, error) {
	var chunks []chunk
	perTrack := make([][]int, len(tracks)) // chunk indexes of each track
	for ti, t := range tracks {
		for i, s := range t.samples {
			if i == 0 || s.chunk != t.samples[i-1].chunk {
				perTrack[ti] = append(perTrack[ti], len(chunks))
				chunks = append(chunks, chunk{track: ti, first: i})
			}
			c := &chunks[len(chunks)-1]
			c.count++
			c.size += uint64(len(s.data))
		}
	}
	// Interleave: order chunks by the wall clock of their first sample.
	order := make([]int, len(chunks))
	for i := range order {
		order[i] = i
	}
	sortStable(order, func(a, b int) bool {
		ca, cb := chunks[a], chunks[b]
		return tracks[ca.track].samples[ca.first].wall.Before(tracks[cb.track].samples[cb.first].wall)
	})
	var mdatSize uint64
	for _, c := range chunks {
		mdatSize += c.size
	}
	large := mdatSize > 1<<32-1<<20

	moov := mp4.NewMoovBox()
	mvhd := mp4.CreateMvhd()
	mvhd.Timescale = movieTimescale
	var movieDur uint64
	for ti, t := range tracks {
		var dur uint64
		for _, s := range t.samples {
			dur += uint64(s.Dur)
		}
		t.trak.Tkhd.TrackID = uint32(ti + 1)
		t.trak.Tkhd.Duration = dur * movieTimescale / uint64(t.timescale)
		t.trak.Mdia.Mdhd.Duration = dur
		movieDur = max(movieDur, t.trak.Tkhd.Duration)
		if err := fillStbl(t, perTrack[ti], chunks, large); err != nil {
			return nil, err
		}
		if cto := t.samples[0].CompositionTimeOffset; cto != 0 {
			setEditList(t.trak, t.trak.Tkhd.Duration, int64(cto))
		}
	}
	mvhd.Duration = movieDur
	mvhd.NextTrackID = uint32(len(tracks) + 1)
	moov.AddChild(mvhd)
	for _, t := range tracks {
		moov.AddChild(t.trak)
	}
	ftyp := mp4.NewFtyp("isom", 0x200, []string{"isom", "iso2", "iso6", "avc1", "mp41"})

	// Chunk offsets depend on the moov size, which does not depend on them
	// (stco entries are fixed width): size it, then fill the offsets in.
	offset := ftyp.Size() + moov.Size() + mdatHeader(mdatSize)
	offsets := make([]uint64, len(chunks))
	for _, ci := range order {
		offsets[ci] = offset
		offset += chunks[ci].size
	}
	for ti, t := range tracks {
		stbl := t.trak.Mdia.Minf.Stbl
		for k, ci := range perTrack[ti] {
			if large {
				stbl.Co64.ChunkOffset[k] = offsets[ci]
			} else {
				stbl.Stco.ChunkOffset[k] = uint32(offsets[ci])
			}
		}
	}
	var out bytes.Buffer
	out.Grow(int(offset))
	if err := ftyp.Encode(&out); err != nil {
		return nil, err
	}
	if err := moov.Encode(&out); err != nil {
		return nil, err
	}
	writeMdatHeader(&out, mdatSize)
	for _, ci := range order {
		c := chunks[ci]
		for _, s := range tracks[c.track].samples[c.first : c.first+c.count] {
			out.Write(s.data)
		}
	}
	return out.Bytes(), nil
}

func mdatHeader(size uint64) uint64 {
	if size+8 > 1<<32-1 {
		return 16
	}
	return 8
}

func writeMdatHeader(w *bytes.Buffer, size uint64) {
	if mdatHeader(size) == 16 {
		w.Write([]byte{0, 0, 0, 1, 'm', 'd', 'a', 't'})
		total := size + 16
		w.Write([]byte{byte(total >> 56), byte(total >> 48), byte(total >> 40), byte(total >> 32),
			byte(total >> 24), byte(total >> 16), byte(total >> 8), byte(total)})
		return
	}
	total := uint32(size + 8)
	w.Write([]byte{byte(total >> 24), byte(total >> 16), byte(total >> 8), byte(total), 'm', 'd', 'a', 't'})
}

// fillStbl replaces the empty sample table of the fragmented init with one
// describing the samples: stts, ctts, stss, stsc, stsz and stco/co64.
func fillStbl(t *track, mine []int, chunks []chunk, large bool) error {
	old := t.trak.Mdia.Minf.Stbl
	stbl := mp4.NewStblBox()
	stbl.AddChild(old.Stsd)
	stts := &mp4.SttsBox{}
	ctts := &mp4.CttsBox{}
	stss := &mp4.StssBox{}
	stsz := &mp4.StszBox{}
	needCtts, allSync := false, true
	var counts []uint32
	var offs []int32
	for i, s := range t.samples {
		if n := len(stts.SampleTimeDelta); n > 0 && stts.SampleTimeDelta[n-1] == s.Dur {
			stts.SampleCount[n-1]++
		} else {
			stts.SampleCount = append(stts.SampleCount, 1)
			stts.SampleTimeDelta = append(stts.SampleTimeDelta, s.Dur)
		}
		if n := len(offs); n > 0 && offs[n-1] == s.CompositionTimeOffset {
			counts[n-1]++
		} else {
			counts, offs = append(counts, 1), append(offs, s.CompositionTimeOffset)
		}
		needCtts = needCtts || s.CompositionTimeOffset != 0
		if s.sync {
			stss.SampleNumber = append(stss.SampleNumber, uint32(i+1))
		} else {
			allSync = false
		}
		stsz.SampleSize = append(stsz.SampleSize, uint32(len(s.data)))
	}
	stsz.SampleNumber = uint32(len(stsz.SampleSize))
	stbl.AddChild(stts)
	if needCtts {
		for _, o := range offs {
			if o < 0 {
				ctts.Version = 1
			}
		}
		if err := ctts.AddSampleCountsAndOffset(counts, offs); err != nil {
			return err
		}
		stbl.AddChild(ctts)
	}
	stsc := &mp4.StscBox{}
	for k, ci := range mine {
		if n := len(stsc.Entries); n > 0 && stsc.Entries[n-1].SamplesPerChunk == uint32(chunks[ci].count) {
			continue
		}
		if err := stsc.AddEntry(uint32(k+1), uint32(chunks[ci].count), 1); err != nil {
			return err
		}
	}
	stbl.AddChild(stsc)
	stbl.AddChild(stsz)
	if !allSync {
		stbl.AddChild(stss)
	}
	if large {
		stbl.AddChild(&mp4.Co64Box{ChunkOffset: make([]uint64, len(mine))})
	} else {
		stbl.AddChild(&mp4.StcoBox{ChunkOffset: make([]uint32, len(mine))})
	}
	minf := t.trak.Mdia.Minf
	for i, c := range minf.Children {
		if c == mp4.Box(old) {
			minf.Children[i] = stbl
		}
	}
	minf.Stbl = stbl
	return nil
}

// setEditList starts presentation at the first sample's composition time, so
// a stream with B-frames does not begin with a gap.
func setEditList(trak *mp4.TrakBox, movieDur uint64, mediaTime int64) {
	elst := &mp4.ElstBox{Entries: []mp4.ElstEntry{{SegmentDuration: movieDur, MediaTime: mediaTime, MediaRateInteger: 1}}}
	edts := &mp4.EdtsBox{}
	edts.AddChild(elst)
	children := []mp4.Box{trak.Tkhd, edts}
	for _, c := range trak.Children {
		if c != mp4.Box(trak.Tkhd) && c.Type() != "edts" {
			children = append(children, c)
		}
	}
	trak.Children, trak.Edts = children, edts
}

// sortStable is an insertion sort: chunk lists are short and nearly sorted.
func sortStable(x []int, less func(a, b int) bool) {
	for i := 1; i < len(x); i++ {
		for j := i; j > 0 && less(x[j], x[j-1]); j-- {
			x[j], x[j-1] = x[j-1], x[j]
		}
	}
}
