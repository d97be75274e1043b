package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/internal/config"
)

// healthBodyMax bounds how much of the /ready answer is read and printed.
const healthBodyMax = 512

func newHealthCmd(d deps) *cobra.Command {
	var (
		file    string
		target  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "health [--url URL]",
		Short: "Exit 0 when the server on this machine answers /ready with 200 (a container health check)",
		Long: `Ask the server running on this machine whether it is ready: GET /ready, exit
0 on 200 and 1 on anything else (503 while starting, stopping or cut off from
Redis; no answer within --timeout). The container image's HEALTHCHECK runs it:
an image built FROM scratch has no shell or curl.

Without --url the address comes from the same configuration serve reads (the
--config file or HERALD_CONFIG, then the HERALD_* environment): its port and
path prefix, on 127.0.0.1 when the server listens on every address, over
HTTPS when TLS is configured (the certificate is not checked: it names the
public host, not 127.0.0.1). A configuration that does not load exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			insecure := false
			if target == "" {
				cfg, err := config.Load(file, d.env, config.Overrides{})
				if err != nil {
					// 1, not the usage code: to a container engine 2 is reserved.
					return &exitError{code: exitFailure, err: fmt.Errorf("health: configuration: %w", err)}
				}
				cfg.ApplyDefaults()
				target, insecure = readyURL(cfg), cfg.TLS.Enabled()
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			answer, err := checkReady(ctx, target, insecure)
			if err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("health: %w", err)}
			}
			fmt.Fprintf(d.stdout, "%s: %s\n", target, answer)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&file, "config", "", "YAML config file to take the address from (env HERALD_CONFIG)")
	fl.StringVar(&target, "url", "", "the URL to ask instead, e.g. http://127.0.0.1:6001/ready")
	fl.DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

// readyURL is the /ready address of the server cfg configures, as seen from
// the same machine.
func readyURL(cfg config.Config) string {
	host := cfg.Host
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if cfg.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(cfg.Port)) + cfg.PathPrefix + "/ready"
}

// checkReady GETs target and returns its status and the start of its body
// when the status is 200, an error otherwise. insecure skips the certificate
// check; no proxy is used.
func checkReady(ctx context.Context, target string, insecure bool) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}} //nolint:gosec // our own server on this machine
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("GET %s: no answer within the timeout", target)
		}
		return "", err // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, healthBodyMax))
	answer := strings.TrimSpace(resp.Status + " " + strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", target, answer)
	}
	return answer, nil
}
