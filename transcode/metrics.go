package transcode

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	processes   prometheus.Gauge
	speed       *prometheus.GaugeVec
	ffSpeed     *prometheus.GaugeVec
	fps         *prometheus.GaugeVec
	lag         *prometheus.GaugeVec
	dropped     *prometheus.CounterVec
	duplicated  *prometheus.CounterVec
	inputDrops  *prometheus.CounterVec
	restarts    *prometheus.CounterVec
	passthrough *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	stream := []string{"stream"}
	m := &metrics{
		processes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecdn_transcode_processes", Help: "Running ffmpeg processes (one per transcoded stream).",
		}),
		speed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livecdn_transcode_speed",
			Help: "Media time ffmpeg produced per media time the publisher delivered, over the last seconds (1.0 keeps up).",
		}, stream),
		ffSpeed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livecdn_transcode_ffmpeg_speed", Help: "ffmpeg's own speed report (output time over wall time since it started).",
		}, stream),
		fps: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livecdn_transcode_fps", Help: "Frames per second ffmpeg encodes, as it reports.",
		}, stream),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livecdn_transcode_lag_seconds", Help: "How far the slowest transcoded rung trails the published video.",
		}, stream),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_transcode_dropped_frames_total", Help: "Frames ffmpeg dropped.",
		}, stream),
		duplicated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_transcode_duplicated_frames_total", Help: "Frames ffmpeg duplicated.",
		}, stream),
		inputDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_transcode_input_dropped_total", Help: "Source units not fed to ffmpeg because it fell too far behind.",
		}, stream),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_transcode_restarts_total", Help: "ffmpeg restarts by reason (exit, slow, no_output, start).",
		}, []string{"stream", "reason"}),
		passthrough: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_transcode_passthrough_total", Help: "Streams served without transcoding, by reason (ladder, no_ffmpeg, no_video, fallback).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.processes, m.speed, m.ffSpeed, m.fps, m.lag, m.dropped, m.duplicated, m.inputDrops, m.restarts, m.passthrough)
	}
	return m
}

// forget removes a finished stream's series.
func (m *metrics) forget(stream string) {
	for _, v := range []*prometheus.GaugeVec{m.speed, m.ffSpeed, m.fps, m.lag} {
		v.DeleteLabelValues(stream)
	}
	for _, v := range []*prometheus.CounterVec{m.dropped, m.duplicated, m.inputDrops} {
		v.DeleteLabelValues(stream)
	}
	m.restarts.DeletePartialMatch(prometheus.Labels{"stream": stream})
}
