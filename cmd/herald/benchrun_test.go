package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
)

func runBenchCLIEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := execute(ctx, args, deps{env: lookup, stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

// defaultAppDir returns a data directory holding a default-app.json made
// as herald serve makes it, and the app serve then runs.
func defaultAppDir(t *testing.T, parent string) (string, config.App) {
	t.Helper()
	dir := filepath.Join(parent, "herald-data")
	cfg := config.Config{DataDir: dir}
	if _, err := config.EnsureDefaultApp(&cfg, nil); err != nil {
		t.Fatal(err)
	}
	return dir, cfg.Apps[0]
}

func readBenchJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("JSON result: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBenchCredentials(t *testing.T) {
	dir, app := defaultAppDir(t, t.TempDir())
	file := filepath.Join(dir, config.DefaultAppFile)
	empty := t.TempDir()
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, config.DefaultAppFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	builtIn := benchFlags{appID: "1", key: "app-key", secret: "app-secret"}
	for _, tc := range []struct {
		name       string
		flags      benchFlags
		changed    string // a flag given on the command line
		env        map[string]string
		want       [3]string // app id, key, secret after
		wantSource string
		wantCode   int
	}{
		{name: "data-dir", flags: benchFlags{dataDir: dir}, want: [3]string{app.ID, app.Key, app.Secret}, wantSource: "from " + file},
		{name: "HERALD_DATA_DIR", env: map[string]string{config.EnvDataDir: dir}, want: [3]string{app.ID, app.Key, app.Secret}, wantSource: "from " + file},
		{name: "secret from env", flags: benchFlags{dataDir: dir}, env: map[string]string{config.EnvAppSecret: "env-secret"},
			want: [3]string{app.ID, app.Key, "env-secret"}, wantSource: "from " + file + " and " + config.EnvAppSecret},
		{name: "all from env", flags: benchFlags{dataDir: empty},
			env:  map[string]string{config.EnvAppID: "9", config.EnvAppKey: "k9", config.EnvAppSecret: "s9"},
			want: [3]string{"9", "k9", "s9"}, wantSource: "from HERALD_APP_ID, HERALD_APP_KEY, HERALD_APP_SECRET"},
		{name: "no file", flags: benchFlags{dataDir: empty}, want: [3]string{"1", "app-key", "app-secret"},
			wantSource: "the built-in defaults: there is no " + filepath.Join(empty, config.DefaultAppFile)},
		{name: "secret given", flags: benchFlags{dataDir: dir}, changed: "secret", want: [3]string{"1", "app-key", "app-secret"}, wantSource: "from the flags"},
		{name: "app-id given", flags: benchFlags{dataDir: dir}, changed: "app-id", want: [3]string{"1", "app-key", "app-secret"}, wantSource: "from the flags"},
		{name: "start-server", flags: benchFlags{dataDir: dir, startServer: true}, want: [3]string{"1", "app-key", "app-secret"}, wantSource: "generated for --start-server"},
		{name: "malformed file", flags: benchFlags{dataDir: bad}, wantCode: exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.flags
			f.appID, f.key, f.secret = builtIn.appID, builtIn.key, builtIn.secret
			var stderr bytes.Buffer
			d := deps{env: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, stderr: &stderr}
			source, err := benchCredentials(d, &f, func(name string) bool { return name == tc.changed })
			if tc.wantCode != 0 {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != tc.wantCode || !strings.Contains(err.Error(), "--app-id") {
					t.Fatalf("err %v, want exit %d naming the flags", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]string{f.appID, f.key, f.secret}; got != tc.want || source != tc.wantSource {
				t.Errorf("credentials %q from %q, want %q from %q", got, source, tc.want, tc.wantSource)
			}
			line := stderr.String()
			if f.appID == builtIn.appID {
				if line != "" {
					t.Errorf("printed %q with the flag credentials", line)
				}
				return
			}
			if strings.Count(line, "\n") != 1 || !strings.Contains(line, tc.wantSource) ||
				!strings.Contains(line, "app id "+f.appID) || !strings.Contains(line, "key "+f.key) || strings.Contains(line, f.secret) {
				t.Errorf("stderr %q: want one line naming %q, the app id and key, never the secret", line, tc.wantSource)
			}
		})
	}
}

// TestBenchServeThenBench: a server running serve's embedded default app,
// then a bench given no credentials, finds them in the data directory.
func TestBenchServeThenBench(t *testing.T) {
	work := t.TempDir()
	dir, app := defaultAppDir(t, work)
	port := benchServerWith(t, config.Config{Host: "127.0.0.1", DataDir: dir, Log: config.LogConfig{Level: "warn"},
		AdminListen: config.AdminListenOff, Apps: []config.App{app}})
	common := []string{"--port", strconv.Itoa(port), "--duration", "500ms", "--progress", "0"}

	jsonPath := filepath.Join(work, "api.json")
	code, out, errOut := runBenchCLIEnv(t, map[string]string{config.EnvDataDir: dir},
		append([]string{"bench", "api", "--concurrency", "2", "--json", jsonPath}, common...)...)
	if m := readBenchJSON(t, jsonPath); code != 0 || m["ok"].(float64) == 0 || m["errors"].(float64) != 0 {
		t.Fatalf("api with HERALD_DATA_DIR: exit %d, ok %v errors %v\nstdout:\n%s\nstderr:\n%s", code, m["ok"], m["errors"], out, errOut)
	}
	if want := "credentials of herald serve's default app from " + filepath.Join(dir, config.DefaultAppFile); !strings.Contains(errOut, want) {
		t.Errorf("stderr %q, want %q", errOut, want)
	}

	// In the directory serve ran in, with nothing but the scenario's own flags.
	t.Chdir(work)
	jsonPath = filepath.Join(work, "fanout.json")
	code, out, errOut = runBenchCLIEnv(t, nil, append([]string{"bench", "fanout", "--subscribers", "4", "--rate", "20",
		"--max-p99", "10s", "--json", jsonPath}, common...)...)
	if code != 0 {
		t.Fatalf("fanout in the serve directory: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	step := readBenchJSON(t, jsonPath)["steps"].([]any)[0].(map[string]any)
	if step["delivered"].(float64) == 0 || step["publish_errors"].(float64) != 0 {
		t.Errorf("step %v", step)
	}
	if !strings.Contains(errOut, "app id "+app.ID) || strings.Contains(errOut, app.Secret) {
		t.Errorf("stderr %q: want the app id, never the secret", errOut)
	}
}

// TestBenchAllFailed: a run in which nothing succeeded exits 1 with the
// first error and a hint, and still writes its JSON result.
func TestBenchAllFailed(t *testing.T) {
	port := benchServer(t)
	common := []string{"--port", strconv.Itoa(port), "--app-id", "7", "--duration", "500ms", "--progress", "0"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"api", "--key", "bk", "--secret", "wrong", "--concurrency", "2"}, []string{"bench api: all ", " requests failed; first error: HTTP 401"}},
		{[]string{"connect", "--key", "wrong", "--secret", "bs", "--concurrency", "2"}, []string{"bench connect: all ", " connections failed; first error: ", "4001"}},
		{[]string{"idle", "--key", "wrong", "--secret", "bs", "--connections", "3"}, []string{"bench idle: all 3 connections failed", "4001"}},
		{[]string{"fanout", "--key", "bk", "--secret", "wrong", "--subscribers", "3", "--rate", "10"}, []string{"bench fanout: nothing delivered: every one of the ", "HTTP 401"}},
		{[]string{"presence", "--key", "bk", "--secret", "wrong", "--channels", "1", "--watchers", "1", "--churners", "1"}, []string{"bench presence: ", "Invalid signature"}},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			jsonPath := filepath.Join(t.TempDir(), "r.json")
			args := append(append(append([]string{"bench", tc.args[0]}, common...), tc.args[1:]...), "--json", jsonPath)
			code, out, errOut := runBenchCLI(t, args...)
			if code != exitFailure {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, out, errOut)
			}
			for _, w := range append(tc.want, "check --app-id, --key and --secret") {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if m := readBenchJSON(t, jsonPath); m["scenario"] != tc.args[0] {
				t.Errorf("JSON scenario %v", m["scenario"])
			}
		})
	}
}

var startedRE = regexp.MustCompile(`started herald pid (\d+) on \S+ \(config (\S+)/herald\.yaml`)

// startedServer waits at most d for the bench's "started herald pid" line
// in the text read returns and registers the clean-up of that server.
func startedServer(t *testing.T, read func() string, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if m := startedRE.FindStringSubmatch(read()); m != nil {
			pid, _ := strconv.Atoi(m[1])
			t.Cleanup(func() {
				if !processGone(pid) && strings.Contains(readProcFile(pid, "cmdline"), m[2]) {
					_ = syscall.Kill(pid, syscall.SIGKILL) // a failed test leaves no server behind
				}
				_ = os.RemoveAll(m[2]) // the bench keeps the directory for inspection
			})
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no started herald line within %v:\n%s", d, read())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readProcFile(pid int, name string) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + name)
	return string(b)
}

// processGone reports whether pid has exited: no such process, or a zombie
// that a parent which is not reaping (PID 1 in a container) left behind.
func processGone(pid int) bool {
	stat := readProcFile(pid, "stat")
	if stat == "" {
		return true
	}
	if i := strings.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 {
		return stat[i+2] == 'Z' || stat[i+2] == 'X'
	}
	return false
}

func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("server pid %d still running %v after the bench ended", pid, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBenchStartServerStoppedWithBench: a server that --start-server
// launched does not outlive the bench, whether the bench is killed,
// interrupted or loses its output.
func TestBenchStartServerStoppedWithBench(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux: Pdeathsig and /proc; elsewhere a bench killed with SIGKILL leaves its server running")
	}
	bench := []string{"bench", "idle", "--start-server", "--connections", "3", "--settle", "100ms", "--duration", "60s"}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			c := startChild(t, "main", append(bench, "--progress", "0")...)
			pid := startedServer(t, c.stderr.String, 60*time.Second)
			c.signal(t, sig)
			c.waitExit(t, 30*time.Second)
			waitGone(t, pid, 10*time.Second)
		})
	}

	// Closed stderr: the next progress line gets EPIPE; the bench stops its
	// server itself (gone when the bench exits) and exits 141.
	t.Run("closed stderr", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], append(bench, "--progress", "100ms")...)
		cmd.Env = append(os.Environ(), "HERALD_TEST_MAIN=main")
		cmd.Stderr = w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Errorf("bench %d not reaped", cmd.Process.Pid)
			}
		})
		var seen strings.Builder
		_ = r.SetReadDeadline(time.Now().Add(60 * time.Second))
		br := bufio.NewReader(r)
		for startedRE.FindString(seen.String()) == "" {
			line, err := br.ReadString('\n')
			seen.WriteString(line)
			if err != nil {
				t.Fatalf("reading the bench's stderr: %v\n%s", err, seen.String())
			}
		}
		pid := startedServer(t, seen.String, time.Second)
		r.Close()
		select {
		case <-exited:
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if ws.Signaled() || ws.ExitStatus() != 141 {
				t.Errorf("bench ended with %v, want exit status 141", waitErr)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("bench still running 30 s after its stderr closed")
		}
		if !processGone(pid) {
			t.Errorf("server pid %d still running when the bench exited", pid)
		}
	})
}
