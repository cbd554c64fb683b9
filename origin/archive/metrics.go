package archive

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	queued, pending             prometheus.Gauge
	segments, bytes, errors     prometheus.Counter
	uploaded, uploadErrors      prometheus.Counter
	dropped, pruned             prometheus.Counter
	writeSeconds, uploadSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "livecdn_archive_" + name, Help: help})
	}
	m := &metrics{
		queued:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "livecdn_archive_queued_segments", Help: "Completed segments waiting for the local archive write."}),
		pending:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "livecdn_archive_upload_pending", Help: "Files in the spool waiting for upload."}),
		segments:     c("segments_total", "Segments written to the archive."),
		bytes:        c("bytes_total", "Segment bytes written to the archive."),
		errors:       c("write_errors_total", "Failed local archive writes."),
		uploaded:     c("uploads_total", "Files uploaded to the backend."),
		uploadErrors: c("upload_errors_total", "Failed upload attempts (each is retried)."),
		dropped:      c("spool_dropped_total", "Files dropped from a full upload spool, never uploaded."),
		pruned:       c("pruned_segments_total", "Segments removed by retention."),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livecdn_archive_write_seconds",
			Help: "Time to write a batch of segments (one or more) and fsync the index.", Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10)}),
		uploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livecdn_archive_upload_seconds",
			Help: "Time to upload one file.", Buckets: prometheus.ExponentialBuckets(0.001, 3, 10)}),
	}
	if reg != nil {
		reg.MustRegister(m.queued, m.pending, m.segments, m.bytes, m.errors, m.uploaded, m.uploadErrors,
			m.dropped, m.pruned, m.writeSeconds, m.uploadSeconds)
	}
	return m
}
