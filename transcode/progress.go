package transcode

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// progressReport is one block of ffmpeg's -progress output.
type progressReport struct {
	Frame      int64
	FPS        float64
	DropFrames int64
	DupFrames  int64
	// Speed is ffmpeg's own figure: output time over wall time since it
	// started, which for live input creeps towards 1.0 from below.
	Speed float64
	End   bool // progress=end
}

// readProgress parses "-progress pipe:N": key=value lines, each block ended
// by progress=continue or progress=end.
func (p *process) readProgress(r *os.File) {
	defer p.readers.Done()
	defer r.Close()
	sc := bufio.NewScanner(r)
	var rep progressReport
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "frame":
			rep.Frame, _ = strconv.ParseInt(v, 10, 64)
		case "fps":
			rep.FPS, _ = strconv.ParseFloat(v, 64)
		case "drop_frames":
			rep.DropFrames, _ = strconv.ParseInt(v, 10, 64)
		case "dup_frames":
			rep.DupFrames, _ = strconv.ParseInt(v, 10, 64)
		case "speed":
			rep.Speed, _ = strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64)
		case "progress":
			rep.End = v == "end"
			if p.cfg.progress != nil {
				p.cfg.progress(p, rep)
			}
			rep = progressReport{}
		}
	}
}
