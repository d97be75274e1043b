package admission

import "github.com/prometheus/client_golang/prometheus"

type gateMetrics struct {
	refused                            *prometheus.CounterVec
	connMemory, connMax, publishMemory prometheus.Counter // its series, resolved once
	frees                              prometheus.Counter
	freed                              prometheus.Counter
}

func newGateMetrics(reg prometheus.Registerer, g *Gate) *gateMetrics {
	m := &gateMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_admission_refused_total",
			Help: "New connections (4100) and API publishes (503) refused because the node is at max_connections or near its memory limit.",
		}, []string{"kind", "reason"}),
		frees: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_memory_returns_total",
			Help: "Times memory was returned to the OS after the connection count dropped.",
		}),
		freed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_memory_returned_bytes_total",
			Help: "Bytes returned to the OS after connection drops (in-use memory before minus after).",
		}),
	}
	m.connMemory = m.refused.WithLabelValues("connection", ReasonMemory)
	m.connMax = m.refused.WithLabelValues("connection", ReasonMaxConnections)
	m.publishMemory = m.refused.WithLabelValues("publish", ReasonMemory)
	if reg == nil {
		return m
	}
	reg.MustRegister(m.refused, m.frees, m.freed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_max_connections",
			Help: "WebSocket connections this node admits at once (limits.max_connections, by default derived from the open-files limit); 0 = unbounded.",
		}, func() float64 { return float64(g.cfg.MaxConnections) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_memory_limit_bytes",
			Help: "Memory limit for admission (limits.max_memory_mb, GOMEMLIMIT or the cgroup's); 0 = none.",
		}, func() float64 { return float64(g.cfg.MaxMemoryBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_memory_in_use_bytes",
			Help: "Memory held from the OS and not returned (Go's mapped memory minus what it released), read at scrape time.",
		}, func() float64 { return float64(memoryInUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_admission_refusing",
			Help: "1 while new connections and publishes are refused for memory.",
		}, func() float64 {
			if g.overMem.Load() {
				return 1
			}
			return 0
		}),
	)
	return m
}
