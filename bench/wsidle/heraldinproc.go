package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/server"
)

// heraldInprocServe runs the real server (internal/server.Run, same YAML as
// the out-of-process variant) inside this process, so that "stats" can run
// runtime.GC() and read runtime.MemStats exactly like the simulated
// variants, and "profile <file>" can write a heap profile.
//
// Control protocol on stdin: "stats" -> "STATS {json}"; "profile <file>" ->
// "PROFILED <file>"; "quit" or EOF -> graceful shutdown and exit.
func heraldInprocServe(memProfileRate int) error {
	if memProfileRate > 0 {
		runtime.MemProfileRate = memProfileRate
	}
	dir, err := os.MkdirTemp("", "wsidle-herald-inproc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "herald.yaml")
	if err := os.WriteFile(cfgPath, []byte(heraldConfigYAML(0, filepath.Join(dir, "data"))), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath, nil, config.Overrides{})
	if err != nil {
		return err
	}
	cfg.ApplyDefaults()
	cfg.Port = 0 // ApplyDefaults turned 0 into 6001; listen on any free port
	if err := cfg.Validate(); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrCh := make(chan net.Addr, 1)
	runErr := make(chan error, 1)
	go func() {
		runErr <- server.Run(ctx, cfg, server.Options{
			Version:  "wsidle",
			Stderr:   os.Stderr,
			OnListen: func(a net.Addr) { addrCh <- a },
		})
	}()
	var addr string
	select {
	case a := <-addrCh:
		addr = a.String()
	case err := <-runErr:
		return fmt.Errorf("server.Run: %w", err)
	case <-time.After(15 * time.Second):
		return errors.New("server.Run did not listen within 15s")
	}
	base := "http://" + addr
	if err := waitReady(base, 15*time.Second); err != nil {
		return err
	}
	fmt.Printf("LISTEN %s\n", addr)

	sc := bufio.NewScanner(os.Stdin)
loop:
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "stats":
			s, err := heraldInprocStats(base)
			if err != nil {
				fmt.Fprintln(os.Stderr, "stats:", err)
			}
			b, _ := json.Marshal(s)
			fmt.Printf("STATS %s\n", b)
		case strings.HasPrefix(line, "profile "):
			path := strings.TrimSpace(strings.TrimPrefix(line, "profile "))
			if err := writeHeapProfile(path); err != nil {
				fmt.Fprintln(os.Stderr, "profile:", err)
			}
			fmt.Printf("PROFILED %s\n", path)
		case line == "quit":
			break loop
		}
	}
	cancel()
	select {
	case err := <-runErr:
		return err
	case <-time.After(20 * time.Second):
		return errors.New("server.Run did not return within 20s of shutdown")
	}
}

// heraldInprocStats reads the server's own view (herald_connections,
// herald_channels on /metrics; subscription counts from the signed REST
// API), lets the scrape connections go, then GCs and reads MemStats.
func heraldInprocStats(base string) (memStats, error) {
	var s memStats
	p, err := scrapeMetrics(base)
	if err != nil {
		return s, err
	}
	chans, subs, err := channelsViaAPI(base)
	if err != nil {
		return s, err
	}
	time.Sleep(200 * time.Millisecond) // scrape connections and their goroutines end
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memStats{
		Conns:       int(p.Connections),
		Channels:    int(p.Channels),
		APIChannels: chans,
		Subscribed:  subs,
		HeapInuse:   ms.HeapInuse,
		StackInuse:  ms.StackInuse,
		Sys:         ms.Sys,
		RSS:         readRSS(),
		Goroutines:  runtime.NumGoroutine(),
	}, nil
}

func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
