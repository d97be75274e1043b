package test

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

// BenchmarkBeamsPublish measures accepted publishes per second through a
// real server: 32 publishers with keep-alive connections, each publish
// validated, stored durably (bbolt, fsync'd group commits) and answered
// 200 before the next; delivery runs beside it (to an interest with no
// devices, so only the queue and the pipeline's reads cost).
func BenchmarkBeamsPublish(b *testing.B) {
	s := startServer(b, func(c *config.Config) {
		c.DataDir = b.TempDir()
		c.Beams = config.BeamsConfig{PublishRate: 1_000_000,
			Instances: []config.BeamsInstance{{ID: beamsID, SecretKey: beamsSecret}}}
	})
	url := s.baseURL() + "/publish_api/v1/instances/" + beamsID + "/publishes/interests"
	body := []byte(`{"interests":["bench"],"web":{"notification":{"title":"Hello","body":"Hello, world!"},"data":{"n":1}}}`)
	const publishers = 32
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: publishers}}
	var next, failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+beamsSecret)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d publishes failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "publishes/s")
}
