package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Environment variables read by Load. Set-but-empty counts as unset.
const (
	EnvConfig          = "HERALD_CONFIG" // config file path, when no file is passed to Load
	EnvHost            = "HERALD_HOST"
	EnvDatabaseURL     = "HERALD_DATABASE_URL"
	EnvPort            = "HERALD_PORT"
	EnvDataDir         = "HERALD_DATA_DIR"
	EnvPathPrefix      = "HERALD_PATH_PREFIX"
	EnvAdminListen     = "HERALD_ADMIN_LISTEN" // host:port
	EnvLogFormat       = "HERALD_LOG_FORMAT"
	EnvLogLevel        = "HERALD_LOG_LEVEL"
	EnvTLSCertFile     = "HERALD_TLS_CERT_FILE"
	EnvTLSKeyFile      = "HERALD_TLS_KEY_FILE"
	EnvActivityTimeout = "HERALD_ACTIVITY_TIMEOUT" // "120s" or seconds
	EnvPongTimeout     = "HERALD_PONG_TIMEOUT"     // "30s" or seconds
	EnvShutdownTimeout = "HERALD_SHUTDOWN_TIMEOUT" // "10s" or seconds
	EnvMetricsEnabled  = "HERALD_METRICS_ENABLED"  // true/false
	EnvMetricsToken    = "HERALD_METRICS_PUBLIC_TOKEN"
	EnvRedisURL        = "HERALD_REDIS_URL" // may hold a password: no flag, which ps(1) would show
	EnvRedisPrefix     = "HERALD_REDIS_PREFIX"
	EnvNodeID          = "HERALD_NODE_ID"

	// Read by EnsureDefaultApp, not by Load.
	EnvAppID     = "HERALD_APP_ID"
	EnvAppKey    = "HERALD_APP_KEY"
	EnvAppSecret = "HERALD_APP_SECRET"
)

// Overrides are the command-line flags the user actually set; nil means "not
// set", so the lower layers show through.
type Overrides struct {
	Host            *string
	Port            *int
	DataDir         *string
	PathPrefix      *string
	AdminListen     *string
	LogFormat       *string
	LogLevel        *string
	TLSCertFile     *string
	TLSKeyFile      *string
	ActivityTimeout *Seconds
}

// LookupFunc reads one environment variable; os.LookupEnv fits.
type LookupFunc func(string) (string, bool)

// ConfigFile returns the config file to read: file when non-empty (the
// --config flag), otherwise HERALD_CONFIG, otherwise "" (no file).
func ConfigFile(file string, env LookupFunc) string {
	if file != "" {
		return file
	}
	v, _ := lookup(env, EnvConfig)
	return v
}

// Load builds a Config from a YAML file (see ConfigFile; none when both are
// empty), then the HERALD_* environment read through env (nil: none), then
// over. Each layer overrides the one before. Unknown YAML keys are errors.
//
// Load does not apply defaults or validate. It returns the configuration it
// could build even when err != nil, so a caller can still Validate it and
// report every problem at once; err joins every problem found.
func Load(file string, env LookupFunc, over Overrides) (Config, error) {
	var cfg Config
	var errs []error

	if path := ConfigFile(file, env); path != "" {
		errs = append(errs, decodeFile(path, &cfg)...)
	}
	errs = append(errs, applyEnv(&cfg, env)...)
	applyOverrides(&cfg, over)
	return cfg, errors.Join(errs...)
}

// decodeFile reads path into cfg with unknown keys rejected.
func decodeFile(path string, cfg *Config) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	return decodeYAML(path, data, cfg)
}

func decodeYAML(name string, data []byte, cfg *Config) []error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) { // io.EOF: empty file
		var extra yaml.Node
		if err == nil && dec.Decode(&extra) == nil {
			return []error{fmt.Errorf("%s: more than one YAML document; put everything in one", name)}
		}
	}
	// Type errors are not fatal: the rest of the file was decoded. The
	// checker names the key of each (and finds fractions the decoder
	// truncated); a decoder message on a line it did not report is kept.
	// Other errors stop the decoder: a syntax error (then the file does
	// not parse for the checker either), or a bad time, which the checker
	// reports with its key.
	var root yaml.Node
	var problems []yamlProblem
	if yaml.Unmarshal(data, &root) == nil {
		problems = checkYAML(&root)
	}
	var te *yaml.TypeError
	if err != nil && !errors.Is(err, io.EOF) && !errors.As(err, &te) {
		if len(problems) == 0 {
			return []error{fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))}
		}
		// Decode the rest, so that Validate does not report what the
		// decoder never reached (unknown keys are already reported).
		dropBadValues(problems)
		*cfg = Config{}
		_ = root.Decode(cfg)
	}
	out := make([]error, 0, len(problems))
	covered := map[string]bool{}
	for _, p := range problems {
		line := strconv.Itoa(p.line)
		covered[line] = true
		out = append(out, fmt.Errorf("%s:%s: %s", name, line, p.msg))
	}
	if te != nil {
		for _, msg := range te.Errors {
			if m := reLine.FindStringSubmatch(msg); m != nil && covered[m[1]] {
				continue
			}
			out = append(out, errors.New(name+":"+friendlyYAML(msg)))
		}
	}
	return out
}

var (
	reLine    = regexp.MustCompile(`^line (\d+): (.*)$`)
	reUnknown = regexp.MustCompile(`^field (\S+) not found in type config\.(\w+)$`)
	// yaml.v3 quotes the start of a wrong scalar; for the redis section
	// that may be a URL with its password (`redis: redis://:pw@host`).
	reRedisScalar = regexp.MustCompile(`^cannot unmarshal !!\w+ .*into config\.RedisConfig$`)
)

// yamlSection names where a struct sits in the file, for unknown-key messages.
var yamlSection = map[string]string{
	"Config":         "at top level",
	"LogConfig":      "in log",
	"TLSConfig":      "in tls",
	"LimitsConfig":   "in limits",
	"MetricsConfig":  "in metrics",
	"App":            "in an app",
	"Webhook":        "in a webhook",
	"WebhookFilter":  "in a webhook filter",
	"WebhooksConfig": "in webhooks",
	"RedisConfig":    "in redis",
	"BeamsConfig":    "in beams",
	"BeamsInstance":  "in a beams instance",
	"BeamsFCM":       "in a beams instance's fcm",
	"BeamsAPNs":      "in a beams instance's apns",
}

// friendlyYAML turns "line 3: field prot not found in type config.Config"
// into `3: unknown key "prot" at top level`.
func friendlyYAML(msg string) string {
	m := reLine.FindStringSubmatch(msg)
	if m == nil {
		return " " + msg
	}
	line, rest := m[1], m[2]
	if u := reUnknown.FindStringSubmatch(rest); u != nil {
		where := yamlSection[u[2]]
		if where == "" {
			where = "in " + u[2]
		}
		return fmt.Sprintf("%s: unknown key %q %s", line, u[1], where)
	}
	if reRedisScalar.MatchString(rest) {
		return line + ": redis must be a section with url and prefix keys, not a single value"
	}
	return line + ": " + rest
}

func applyEnv(cfg *Config, env LookupFunc) []error {
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := lookup(env, name); ok {
			*dst = v
		}
	}
	integer := func(name string, dst *int) {
		if v, ok := lookup(env, name); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not an integer", name, v))
				return
			}
			*dst = n
		}
	}
	seconds := func(name string, dst *Seconds) {
		if v, ok := lookup(env, name); ok {
			n, err := ParseSeconds(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", name, err))
				return
			}
			*dst = n
		}
	}
	duration := func(name string, dst *Duration) {
		if v, ok := lookup(env, name); ok {
			d, err := ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", name, err))
				return
			}
			*dst = d
		}
	}

	str(EnvHost, &cfg.Host)
	str(EnvDatabaseURL, &cfg.DatabaseURL)
	integer(EnvPort, &cfg.Port)
	str(EnvDataDir, &cfg.DataDir)
	str(EnvPathPrefix, &cfg.PathPrefix)
	str(EnvAdminListen, &cfg.AdminListen)
	str(EnvLogFormat, &cfg.Log.Format)
	str(EnvLogLevel, &cfg.Log.Level)
	str(EnvTLSCertFile, &cfg.TLS.CertFile)
	str(EnvTLSKeyFile, &cfg.TLS.KeyFile)
	seconds(EnvActivityTimeout, &cfg.ActivityTimeout)
	duration(EnvPongTimeout, &cfg.PongTimeout)
	duration(EnvShutdownTimeout, &cfg.ShutdownTimeout)
	str(EnvMetricsToken, &cfg.Metrics.PublicToken)
	str(EnvRedisURL, &cfg.Redis.URL)
	str(EnvRedisPrefix, &cfg.Redis.Prefix)
	str(EnvNodeID, &cfg.NodeID)
	if v, ok := lookup(env, EnvMetricsEnabled); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", EnvMetricsEnabled, v))
		} else {
			cfg.Metrics.Enabled = &b
		}
	}
	return errs
}

func applyOverrides(cfg *Config, o Overrides) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&cfg.Host, o.Host)
	if o.Port != nil {
		cfg.Port = *o.Port
	}
	set(&cfg.DataDir, o.DataDir)
	set(&cfg.PathPrefix, o.PathPrefix)
	set(&cfg.AdminListen, o.AdminListen)
	set(&cfg.Log.Format, o.LogFormat)
	set(&cfg.Log.Level, o.LogLevel)
	set(&cfg.TLS.CertFile, o.TLSCertFile)
	set(&cfg.TLS.KeyFile, o.TLSKeyFile)
	if o.ActivityTimeout != nil {
		cfg.ActivityTimeout = *o.ActivityTimeout
	}
}

// lookup reads name through env, treating nil env and empty values as unset.
func lookup(env LookupFunc, name string) (string, bool) {
	if env == nil {
		return "", false
	}
	v, ok := env(name)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}
