// Package report writes a finished benchmark run as a JSON file and as one
// self-contained HTML page: inline SVG plots drawn here, no scripts and no
// network, so the page opens offline and can be mailed around.
package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/livecdn/livecdn/bench/scenario"
)

// Write stores res as dir/bench.json and dir/bench.html and returns their paths.
func Write(dir string, res *scenario.Result) (jsonPath, htmlPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	jsonPath, htmlPath = filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.html")
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return "", "", err
	}
	f, err := os.Create(htmlPath)
	if err != nil {
		return "", "", err
	}
	if err := page.Execute(f, build(res)); err != nil {
		f.Close()
		return "", "", err
	}
	return jsonPath, htmlPath, f.Close()
}

// series is one line of a plot.
type series struct {
	Name  string
	Color string
	Y     func(scenario.Sample) float64
}

type plot struct {
	Title, Unit string
	SVG         template.HTML
}

type view struct {
	Res   *scenario.Result
	Rows  [][2]string
	Plots []plot
}

func build(res *scenario.Result) view {
	s := res.Summary
	v := view{Res: res}
	add := func(k, f string, a ...any) { v.Rows = append(v.Rows, [2]string{k, fmt.Sprintf(f, a...)}) }
	add("scenario", "%s, %s, %d viewers, %v", res.Scenario, res.Protocol, res.Viewers, res.Duration)
	add("targets", "%s", strings.Join(res.Targets, " "))
	add("peak viewers", "%d", s.PeakViewers)
	add("requests", "%d (%.0f/s)", s.Requests, s.ReqPerSec)
	add("throughput", "%.3f Gb/s (%d bytes)", s.Gbps, s.Bytes)
	add("part latency", "p50 %.2f ms, p99 %.2f ms", s.PartP50, s.PartP99)
	add("segment latency", "p50 %.2f ms, p99 %.2f ms", s.SegmentP50, s.SegmentP99)
	add("playlist latency", "p50 %.2f ms, p99 %.2f ms (blocking p50 %.0f ms)", s.PlaylistP50, s.PlaylistP99, s.BlockingP50)
	add("startup", "p50 %.0f ms, p99 %.0f ms", s.StartupP50, s.StartupP99)
	add("live latency", "p50 %.2f s, p99 %.2f s, mean %.2f s", s.LiveP50/1000, s.LiveP99/1000, s.LiveMean/1000)
	add("stalls", "%d (%.1f s stalled in total)", s.Stalls, s.StallSeconds)
	add("errors", "%d (behind window %d, failovers %d, switches %d)", s.Errors, s.Behind, s.Failovers, s.Switches)
	if s.HitRatio >= 0 {
		add("edge cache hit ratio", "%.4f", s.HitRatio)
	}
	add("origin fetches", "%.0f", s.OriginFetches)
	add("emulator memory", "%d bytes per viewer", s.BytesPerViewer)
	for i, r := range s.EdgeRSS {
		add(fmt.Sprintf("edge %d RSS", i+1), "%.1f MiB", float64(r)/(1<<20))
	}
	mk := func(title, unit string, ss ...series) {
		v.Plots = append(v.Plots, plot{Title: title, Unit: unit, SVG: svg(res, unit, ss)})
	}
	mk("Viewers", "viewers",
		series{"viewers", "#1f77b4", func(s scenario.Sample) float64 { return float64(s.Viewers) }},
		series{"playing", "#2ca02c", func(s scenario.Sample) float64 { return float64(s.Playing) }})
	mk("Throughput", "Gb/s", series{"Gb/s", "#1f77b4", func(s scenario.Sample) float64 { return s.Gbps }})
	mk("Requests", "req/s", series{"req/s", "#9467bd", func(s scenario.Sample) float64 { return s.ReqPerSec }})
	mk("Part and segment latency", "ms",
		series{"part p50", "#2ca02c", func(s scenario.Sample) float64 { return s.PartP50 }},
		series{"part p99", "#d62728", func(s scenario.Sample) float64 { return s.PartP99 }},
		series{"segment p99", "#ff7f0e", func(s scenario.Sample) float64 { return s.SegmentP99 }})
	mk("Live latency", "s",
		series{"p50", "#2ca02c", func(s scenario.Sample) float64 { return s.LiveP50 / 1000 }},
		series{"p99", "#d62728", func(s scenario.Sample) float64 { return s.LiveP99 / 1000 }})
	mk("Stalls and errors (cumulative)", "count",
		series{"stalls", "#d62728", func(s scenario.Sample) float64 { return float64(s.Stalls) }},
		series{"errors", "#7f7f7f", func(s scenario.Sample) float64 { return float64(s.Errors) }})
	mk("Origin fetches (cumulative)", "fetches",
		series{"origin fetches", "#8c564b", func(s scenario.Sample) float64 { return s.OriginFetches }})
	mk("Edge cache hit ratio", "ratio",
		series{"hit ratio", "#17becf", func(s scenario.Sample) float64 { return s.HitRatio }})
	return v
}

const (
	plotW, plotH = 640, 220
	padL, padR   = 60, 110
	padT, padB   = 12, 28
)

// svg draws the series over time; negative values (not measured) are gaps.
func svg(res *scenario.Result, unit string, ss []series) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, plotW, plotH, plotW, plotH)
	tmax := math.Max(1, res.Duration.Seconds())
	ymax := 0.0
	for _, s := range res.Samples {
		tmax = math.Max(tmax, s.T)
		for _, x := range ss {
			ymax = math.Max(ymax, x.Y(s))
		}
	}
	ymax = niceCeil(ymax)
	iw, ih := float64(plotW-padL-padR), float64(plotH-padT-padB)
	px := func(t float64) float64 { return padL + t/tmax*iw }
	py := func(y float64) float64 { return padT + ih - y/ymax*ih }
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="#fff" stroke="#ccc"/>`, padL, padT, iw, ih)
	for i := 0; i <= 4; i++ {
		y := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, padL, padL+iw, py(y), py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`, padL-4, py(y)+3, num(y))
	}
	for i := 0; i <= 5; i++ {
		t := tmax * float64(i) / 5
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%.0fs</text>`, px(t), plotH-padB+14, t)
	}
	for _, e := range res.Events {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.0f" stroke="#d62728" stroke-dasharray="4 3"><title>%s</title></line>`,
			px(e.T), px(e.T), padT, padT+ih, template.HTMLEscapeString(e.What))
	}
	for i, x := range ss {
		var pts []string
		flush := func() {
			if len(pts) > 0 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, x.Color, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for _, s := range res.Samples {
			y := x.Y(s)
			if y < 0 || math.IsNaN(y) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.T), py(y)))
		}
		flush()
		ly := padT + 12 + 16*i
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%.0f" y="%d" font-size="11">%s</text>`,
			padL+iw+8, padL+iw+22, ly-4, ly-4, x.Color, padL+iw+26, ly, template.HTMLEscapeString(x.Name))
	}
	fmt.Fprintf(&b, `<text x="12" y="%.0f" font-size="10" transform="rotate(-90 12 %.0f)" text-anchor="middle">%s</text>`,
		padT+ih/2, padT+ih/2, template.HTMLEscapeString(unit))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped names only
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"time": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>livecdn bench: {{.Res.Scenario}}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}td:first-child{color:#666}figure{margin:16px 0}figcaption{font-weight:600;margin-bottom:4px}</style>
</head><body>
<h1>livecdn bench — {{.Res.Scenario}}</h1>
<p>Started {{time .Res.Started}}.</p>
<table>{{range .Rows}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>
{{if .Res.Events}}<h2>Events</h2><ul>{{range .Res.Events}}<li>{{printf "%.1f" .T}} s: {{.What}}</li>{{end}}</ul>{{end}}
<h2>Over time</h2>
{{range .Plots}}<figure class="plot"><figcaption>{{.Title}}</figcaption>{{.SVG}}</figure>
{{end}}</body></html>
`))
