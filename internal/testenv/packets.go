package testenv

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Packet is one packet ffprobe reports.
type Packet struct {
	// PTS and DTS are in seconds.
	PTS, DTS float64
	// Size is the payload size in bytes.
	Size int
	// Key marks a keyframe.
	Key bool
}

// FFprobePackets lists the packets of the streams selected by streams
// (ffprobe's -select_streams, e.g. "v:0") in target, in file order.
func FFprobePackets(t testing.TB, target, streams string) []Packet {
	t.Helper()
	NeedFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", streams,
		"-show_entries", "packet=pts_time,dts_time,size,flags", "-print_format", "json", target).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", target, err, out)
	}
	var raw struct {
		Packets []struct {
			PTS   string `json:"pts_time"`
			DTS   string `json:"dts_time"`
			Size  string `json:"size"`
			Flags string `json:"flags"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("ffprobe %s: %v", target, err)
	}
	ps := make([]Packet, len(raw.Packets))
	for i, r := range raw.Packets {
		ps[i].PTS, _ = strconv.ParseFloat(r.PTS, 64)
		ps[i].DTS, _ = strconv.ParseFloat(r.DTS, 64)
		ps[i].Size, _ = strconv.Atoi(r.Size)
		ps[i].Key = strings.Contains(r.Flags, "K")
	}
	return ps
}
