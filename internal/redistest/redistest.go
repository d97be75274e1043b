// Package redistest starts throwaway Redis servers for tests: Debian's
// /usr/bin/redis-server on a free 127.0.0.1 port, no persistence, its own
// temp dir, stopped in t.Cleanup. Tests that need Redis fail (never skip)
// when it is missing, so CI cannot pass without running them.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the redis-server the tests run.
const Binary = "/usr/bin/redis-server"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 15 * time.Second

// Server is one redis-server process. Its methods are safe for concurrent
// use; they fail the test (t.Fatal) when the server cannot be driven, so
// call them from the test's goroutine.
type Server struct {
	t     testing.TB
	dir   string
	port  int
	conf  string   // config file, passed first ("" for none): sentinels
	extra []string // more redis-server arguments

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	runs int           // starts so far, names the log file
}

// Start starts a server for t and stops it in t.Cleanup (also when t
// fails).
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil)
}

func start(t testing.TB, extra []string) *Server {
	t.Helper()
	return startConf(t, "", extra)
}

// startConf starts a server with config file conf ("" for none) and
// extra arguments.
func startConf(t testing.TB, conf string, extra []string) *Server {
	t.Helper()
	needBinary(t, Binary)
	s := &Server{t: t, dir: t.TempDir(), conf: conf, extra: extra}
	t.Cleanup(s.Kill)
	// A free port can be taken by someone else between the probe and the
	// bind: try a few.
	var err error
	for range 5 {
		s.port = freePort(t)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

func needBinary(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("redistest: %s not found (%v): these tests need a real Redis >= 7.0; "+
			"run scripts/install-deps.sh (installs Debian's redis-server package, with redis-cli)", path, err)
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Stop shuts the server down gracefully (SIGTERM) and waits for it; the
// port then refuses connections until Restart.
func (s *Server) Stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
}

// Kill kills the server (SIGKILL) and waits for it. Safe to call when it
// is not running.
func (s *Server) Kill() {
	s.t.Helper()
	s.signal(syscall.SIGKILL)
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, as with a hung server or a lost network. Resume undoes it.
func (s *Server) Pause() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Restart kills the server if it runs and starts a new one on the same
// port with empty data (there is no persistence).
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot handle SIGTERM
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// start runs redis-server and waits until it answers PING. It reports an
// error (after cleaning up) when the process exits or does not answer.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs++
	logPath := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.runs))
	var args []string
	if s.conf != "" {
		args = append(args, s.conf) // redis-server wants the file before the options
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", logPath,
		"--daemonize", "no",
		"--databases", "16",
	)
	args = append(args, s.extra...)
	cmd := exec.Command(Binary, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	deadline := time.Now().Add(startTimeout)
	for {
		if ping(s.Addr()) == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server on port %d exited: %s\n%s", s.port, cmd.ProcessState, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server on port %d did not answer PING within %s\n%s", s.port, startTimeout, log)
		}
	}
}

// ping sends one inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// Redis Cluster also binds port+10000 (its bus).
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000))); err == nil {
			bus.Close()
			return port
		}
	}
}
