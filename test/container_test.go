package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The container image (Dockerfile, docs/container.md). Registries are out of
// reach in CI, so the image is not built from the Dockerfile's build stage
// (FROM golang:1.26): the test compiles the binary on the host, lays it out
// as that stage would (imageLayout) and builds the Dockerfile's final stage,
// unchanged but for where COPY takes its files from, with podman.
const dockerfilePath = "../Dockerfile"

const (
	imageUID    = "10001"
	imageBinary = "/usr/local/bin/herald"
)

// finalStage returns the instructions after the Dockerfile's last FROM
// (that FROM first), continuation lines joined, comments and blank lines
// dropped.
func finalStage(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	var cur strings.Builder
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(strings.TrimSpace(l) + " ")
			continue
		}
		cur.WriteString(line)
		all = append(all, cur.String())
		cur.Reset()
	}
	last := -1
	for i, ins := range all {
		if strings.HasPrefix(strings.ToUpper(ins), "FROM ") {
			last = i
		}
	}
	if last < 0 {
		t.Fatalf("%s: no FROM", dockerfilePath)
	}
	return all[last:]
}

// testDockerfile is the final stage with every "COPY --from=build /SRC DST"
// turned into "COPY SRC DST": the build context holds what the build stage
// would have made at /SRC.
func testDockerfile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, ins := range finalStage(t) {
		if strings.HasPrefix(ins, "COPY ") {
			var out []string
			for _, f := range strings.Fields(ins) {
				switch {
				case f == "--from=build":
				case strings.HasPrefix(f, "--from="):
					t.Fatalf("%s: %q copies from a stage other than build", dockerfilePath, ins)
				default:
					out = append(out, f)
				}
			}
			if len(out) != 3 && !(len(out) == 4 && strings.HasPrefix(out[1], "--chown=")) {
				t.Fatalf("%s: %q: want COPY [--chown=U:G] --from=build SRC DST", dockerfilePath, ins)
			}
			src := out[len(out)-2]
			if !strings.HasPrefix(src, "/rootfs/") && src != "/data" {
				t.Fatalf("%s: %q copies %s; the test's layout has only /rootfs/ and /data (imageLayout)", dockerfilePath, ins, src)
			}
			out[len(out)-2] = strings.TrimPrefix(src, "/")
			ins = strings.Join(out, " ")
		}
		b.WriteString(ins + "\n")
	}
	return b.String()
}

// The final stage is what the issue asks for: scratch, the unprivileged
// user, the data volume, the health check through the binary itself.
func TestDockerfileFinalStage(t *testing.T) {
	stage := finalStage(t)
	if stage[0] != "FROM scratch" {
		t.Errorf("final stage %q, want FROM scratch", stage[0])
	}
	want := []string{
		"USER " + imageUID + ":" + imageUID,
		"VOLUME /data",
		"EXPOSE 6001 6002",
		`ENTRYPOINT ["` + imageBinary + `"]`,
		`CMD ["serve"]`,
	}
	have := map[string]bool{}
	for _, ins := range stage {
		have[ins] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("final stage has no %q", w)
		}
	}
	var env, health string
	for _, ins := range stage {
		switch {
		case strings.HasPrefix(ins, "ENV "):
			env += ins + " "
		case strings.HasPrefix(ins, "HEALTHCHECK "):
			health = ins
		}
	}
	for _, kv := range []string{"HERALD_DATA_DIR=/data", "HERALD_HOST=0.0.0.0"} {
		if !strings.Contains(env, kv+" ") {
			t.Errorf("final stage ENV has no %s", kv)
		}
	}
	if !strings.HasSuffix(health, `CMD ["`+imageBinary+`", "health"]`) {
		t.Errorf("HEALTHCHECK %q, want one running %s health", health, imageBinary)
	}
	testDockerfile(t) // fails on a COPY the test's layout cannot serve
}

// podman runs podman as root with its storage, run state and events in a
// directory of the test's, so that it leaves nothing behind and shares
// nothing with other users of podman on the machine.
type podman struct {
	t      *testing.T
	bin    string
	global []string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	bin, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman not on PATH (Debian package podman, installed by scripts/install-deps.sh): the container image is not built or run")
	}
	if os.Geteuid() != 0 {
		t.Skip("the container test runs podman as root (rootful), as CI does; running as uid " + strconv.Itoa(os.Geteuid()))
	}
	dir := t.TempDir()
	p := &podman{t: t, bin: bin, global: []string{
		"--root", filepath.Join(dir, "storage"),
		"--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"),
		// vfs works on any file system (overlay over overlay does not);
		// cgroupfs and the file event log need no systemd.
		"--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs",
		"--events-backend", "file",
	}}
	// runc where installed: crun 1.8 refuses a hybrid cgroup hierarchy
	// (v1 controllers with one on the v2 mount too), which CI machines have.
	if runc, err := exec.LookPath("runc"); err == nil {
		p.global = append(p.global, "--runtime", runc)
	}
	if _, err := p.run(30*time.Second, "info"); err != nil {
		t.Skipf("podman cannot run here (podman info: %v)", err)
	}
	return p
}

// run runs podman with args, bounded by timeout, and returns its standard
// output; a failure's error carries the standard error. (Without systemd,
// podman also logs to standard error that it cannot set health-check timers.)
func (p *podman) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, append(slices.Clone(p.global), args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("no result within %v: %w\n%s", timeout, err, stderr.String())
	case err != nil:
		err = fmt.Errorf("%w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), err
}

func (p *podman) must(timeout time.Duration, args ...string) string {
	p.t.Helper()
	out, err := p.run(timeout, args...)
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// runLimits are the container's open-files and process limits: this
// process's own open-files limit, and a process limit far above what herald
// uses. Podman's defaults raise both above what an unprivileged sandbox
// (no CAP_SYS_RESOURCE) lets even root set, and the container fails to start
// ("setrlimit RLIMIT_NOFILE: operation not permitted"); lowering never needs
// a privilege.
func runLimits(t *testing.T) []string {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	return []string{"--ulimit", fmt.Sprintf("nofile=%d:%d", r.Cur, r.Max), "--ulimit", "nproc=4096:4096"}
}

// imageLayout builds herald on the host (static, as the Dockerfile does)
// and lays out in dir what the Dockerfile's build stage makes: rootfs/
// (binary, CA certificates, passwd and group) and data/.
func imageLayout(t *testing.T, dir, version string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"rootfs/etc/ssl/certs", "rootfs/usr/local/bin", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-X main.version="+version,
		"-o", filepath.Join(dir, "rootfs"+imageBinary), "./cmd/herald")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/herald: %v\n%s", err, out)
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Logf("no CA bundle on this machine (%v): the test image gets an empty one", err)
	}
	files := map[string]string{
		"rootfs/etc/ssl/certs/ca-certificates.crt": string(certs),
		"rootfs/etc/passwd":                        "root:x:0:0:root:/root:/sbin/nologin\nherald:x:" + imageUID + ":" + imageUID + ":herald:/data:/sbin/nologin\n",
		"rootfs/etc/group":                         "root:x:0:\nherald:x:" + imageUID + ":\n",
		"Dockerfile":                               testDockerfile(t),
		"Probefile":                                "FROM scratch\nCOPY rootfs" + imageBinary + " /herald\nENTRYPOINT [\"/herald\"]\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The image builds from the Dockerfile's final stage and runs: ready, serving
// WebSocket clients with the default app it generated into the volume, as
// uid 10001, healthy by its own HEALTHCHECK, and exits 0 on podman stop.
func TestContainerImage(t *testing.T) {
	p := newPodman(t)
	t.Parallel()
	const (
		image   = "localhost/herald-test:latest"
		name    = "herald-test"
		volume  = "herald-test-data"
		version = "container-test"
	)
	ctxDir := t.TempDir()
	imageLayout(t, ctxDir, version)

	// Can this machine start a container at all? A one-file image of the
	// binary just built: a failure here is the machine's, not the image's.
	p.must(3*time.Minute, "build", "-f", filepath.Join(ctxDir, "Probefile"), "-t", "localhost/herald-probe:latest", ctxDir)
	t.Cleanup(func() { _, _ = p.run(time.Minute, "rmi", "-f", "localhost/herald-probe:latest") })
	limits := runLimits(t)
	if _, err := p.run(time.Minute, append(append([]string{"run", "--rm"}, limits...), "localhost/herald-probe:latest", "version")...); err != nil {
		t.Skipf("podman cannot start containers here (podman run: %v)", err)
	}

	// --format docker: the OCI image format has no HEALTHCHECK.
	p.must(3*time.Minute, "build", "--format", "docker", "-t", image, ctxDir)
	t.Cleanup(func() { _, _ = p.run(time.Minute, "rmi", "-f", image) })
	if user := p.must(time.Minute, "image", "inspect", "--format", "{{.Config.User}}", image); user != imageUID+":"+imageUID {
		t.Errorf("image user %q", user)
	}
	var health struct{ Test []string }
	if err := json.Unmarshal([]byte(p.must(time.Minute, "image", "inspect", "--format", "{{json .HealthCheck}}", image)), &health); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(health.Test, " "); got != "CMD "+imageBinary+" health" {
		t.Errorf("image health check %q", got)
	}
	if out := p.must(time.Minute, append(append([]string{"run", "--rm"}, limits...), image, "version")...); !strings.HasPrefix(out, "herald "+version+" ") {
		t.Errorf("herald version in the image: %q", out)
	}

	port := freePort(t)
	args := append([]string{"run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:6001", port), "-v", volume + ":/data"}, limits...)
	p.must(time.Minute, append(args, image)...)
	t.Cleanup(func() {
		if t.Failed() {
			// Both streams: herald logs to standard error.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, p.bin, append(slices.Clone(p.global), "logs", name)...).CombinedOutput()
			t.Logf("container log (%v):\n%s", err, out)
		}
		if out, err := p.run(time.Minute, "rm", "-f", "-t", "2", name); err != nil {
			t.Errorf("podman rm: %v\n%s", err, out)
		}
		_, _ = p.run(time.Minute, "volume", "rm", "-f", volume)
	})

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	client := &http.Client{Timeout: readTimeout}
	checked := time.Now()
	eventually(t, 60*time.Second, "/ready to answer 200 through the published port", func() bool {
		if resp, err := client.Get("http://" + addr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		if time.Since(checked) > time.Second { // a container that exited will not get ready
			checked = time.Now()
			if state, _ := p.run(30*time.Second, "inspect", "--format", "{{.State.Status}}", name); state == "exited" {
				t.Fatal("the container exited before /ready answered 200")
			}
		}
		return false
	})
	if out, err := p.run(time.Minute, "healthcheck", "run", name); err != nil {
		t.Errorf("podman healthcheck run (the image's HEALTHCHECK): %v\n%s", err, out)
	}

	// The default app herald generated, read from the volume: it was
	// writable to uid 10001, and its files are 10001's.
	dataDir := p.must(time.Minute, "volume", "inspect", "--format", "{{.Mountpoint}}", volume)
	appFile := filepath.Join(dataDir, "default-app.json")
	var app struct{ Key string }
	b, err := os.ReadFile(appFile)
	if err == nil {
		err = json.Unmarshal(b, &app)
	}
	if err != nil || app.Key == "" {
		t.Fatalf("default app in the volume: %v: %q", err, b)
	}
	if fi, err := os.Stat(appFile); err != nil {
		t.Error(err)
	} else if uid := fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid); uid != imageUID {
		t.Errorf("%s: owner uid %s, want %s", appFile, uid, imageUID)
	}
	pid := p.must(time.Minute, "inspect", "--format", "{{.State.Pid}}", name)
	if uid := processUID(t, pid); uid != imageUID {
		t.Errorf("herald runs as uid %s, want %s", uid, imageUID)
	}

	s := &testServer{t: t, addr: addr, http: client}
	c := connectKey(t, s, app.Key)
	c.subscribe("container-check")
	c.close()

	p.must(time.Minute, "stop", "-t", "15", name)
	if code := p.must(time.Minute, "inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("exit code after podman stop (SIGTERM): %s, want 0", code)
	}
}

// processUID is the real uid of process pid, from /proc (the container's
// processes are the host's to a rootful podman).
func processUID(t *testing.T, pid string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	t.Fatalf("no Uid line in /proc/%s/status", pid)
	return ""
}
