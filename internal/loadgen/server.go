package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ServerProc is a herald server started by the bench (--start-server).
type ServerProc struct {
	PID        int
	Port       int
	Dir        string
	ConfigPath string
	LogPath    string
	// Cert is the server's self-signed certificate (nil without TLS).
	Cert   *SelfSignedCert
	cmd    *exec.Cmd
	exited chan struct{}
}

// ServerOptions configure StartServer.
type ServerOptions struct {
	// TLS serves wss:// and https:// with a self-signed certificate
	// generated in the server's directory; false serves plaintext.
	TLS bool
}

// ServerConfigYAML is the configuration StartServer writes: one app with
// client events enabled and practically unlimited per connection (fanout
// --via client), logs at warn; TLS with cert (nil = plaintext).
func ServerConfigYAML(port int, dataDir string, t Target, cert *SelfSignedCert) string {
	var tlsKeys string
	if cert != nil {
		tlsKeys = fmt.Sprintf("tls:\n  cert_file: %q\n  key_file: %q\n", cert.CertFile, cert.KeyFile)
	}
	return tlsKeys + fmt.Sprintf(`host: 127.0.0.1
port: %d
data_dir: %q
admin_listen: "off"
log:
  level: warn
apps:
  - id: %q
    key: %q
    secret: %q
    enable_client_messages: true
    client_events_per_sec: 1000000
`, port, dataDir, t.AppID, t.Key, t.Secret)
}

// StartServer runs `bin serve` on a free 127.0.0.1 port with a generated
// configuration (and, with o.TLS, a self-signed certificate) in a new
// temporary directory and waits until /ready answers 200. The caller stops
// it with Stop; the directory (config, log, certificate) is kept for
// inspection, except when start-up fails.
func StartServer(bin string, t Target, o ServerOptions) (_ *ServerProc, err error) {
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir) // the error already carries the log tail
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &ServerProc{Port: port, Dir: dir, ConfigPath: filepath.Join(dir, "herald.yaml"), LogPath: filepath.Join(dir, "herald.log"), exited: make(chan struct{})}
	readyURL := fmt.Sprintf("http://127.0.0.1:%d/ready", port)
	cl := &http.Client{Timeout: 2 * time.Second}
	if o.TLS {
		if s.Cert, err = WriteSelfSignedCert(dir); err != nil {
			return nil, err
		}
		readyURL = fmt.Sprintf("https://127.0.0.1:%d/ready", port)
		cl.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.Cert.Roots, MinVersion: tls.VersionTLS12}}
		defer cl.CloseIdleConnections()
	}
	if err := os.WriteFile(s.ConfigPath, []byte(ServerConfigYAML(port, filepath.Join(dir, "data"), t, s.Cert)), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve", "--config", s.ConfigPath)
	// Its own process group: a Ctrl-C at the terminal is the bench's to
	// handle (it stops the server with one SIGTERM; a second signal would
	// make the server exit at once). See serverProcAttr.
	s.cmd.SysProcAttr = serverProcAttr()
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s.PID = s.cmd.Process.Pid
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.exited) }()
	for i := 0; i < 150; i++ {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited during start-up; log: %s", s.logTail())
		default:
		}
		if resp, err := cl.Get(readyURL); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = s.Stop()
	return nil, errors.New("server not ready after 15 s; log: " + s.logTail())
}

func (s *ServerProc) logTail() string {
	b, _ := os.ReadFile(s.LogPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop sends SIGTERM, waits up to 20 s, then kills.
func (s *ServerProc) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("server did not stop within 20 s of SIGTERM; killed")
	}
}
