package dashboard

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/admin"
	"github.com/heraldhq/herald/internal/config"
)

// maxWebhookRows bounds the webhook rows a settings form has and is read
// with (the existing webhooks and one empty row).
const maxWebhookRows = 20

// numberField is one numeric setting of the form; the names are the admin
// API's JSON names.
type numberField struct {
	Name, Label, Help string
	float             bool
	get               func(a *admin.App) string
	set               func(s *admin.Settings, v string) error
}

func intField(name, label, help string, get func(*admin.App) int, dst func(*admin.Settings) **int) numberField {
	return numberField{Name: name, Label: label, Help: help,
		get: func(a *admin.App) string { return strconv.Itoa(get(a)) },
		set: func(s *admin.Settings, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s: %q is not a whole number", label, v)
			}
			*dst(s) = &n
			return nil
		}}
}

var numberFields = []numberField{
	intField("max_connections", "Max connections", "0 = unlimited",
		func(a *admin.App) int { return a.MaxConnections }, func(s *admin.Settings) **int { return &s.MaxConnections }),
	intField("max_presence_members", "Max presence members", "per presence channel; 0 = unlimited",
		func(a *admin.App) int { return a.MaxPresenceMembers }, func(s *admin.Settings) **int { return &s.MaxPresenceMembers }),
	intField("max_event_payload_kb", "Max event payload (KB)", "0 = unlimited",
		func(a *admin.App) int { return a.MaxEventPayloadKB }, func(s *admin.Settings) **int { return &s.MaxEventPayloadKB }),
	intField("client_events_per_sec", "Client events per second", "per connection; 0 = server default",
		func(a *admin.App) int { return a.ClientEventsPerSec }, func(s *admin.Settings) **int { return &s.ClientEventsPerSec }),
	intField("max_user_info_kb", "Max user info (KB)", "presence and sign-in user_info; 0 = server default",
		func(a *admin.App) int { return a.MaxUserInfoKB }, func(s *admin.Settings) **int { return &s.MaxUserInfoKB }),
	intField("max_channels_per_trigger", "Max channels per trigger", "0 = server default (100)",
		func(a *admin.App) int { return a.MaxChannelsPerTrigger }, func(s *admin.Settings) **int { return &s.MaxChannelsPerTrigger }),
	intField("max_batch_size", "Max batch size", "events per batch; 0 = server default (10)",
		func(a *admin.App) int { return a.MaxBatchSize }, func(s *admin.Settings) **int { return &s.MaxBatchSize }),
	{Name: "api_rate_limit", Label: "API requests per second", Help: "0 = unlimited", float: true,
		get: func(a *admin.App) string { return strconv.FormatFloat(a.APIRateLimit, 'f', -1, 64) },
		set: func(s *admin.Settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("API requests per second: %q is not a number", v)
			}
			s.APIRateLimit = &f
			return nil
		}},
	intField("api_rate_burst", "API burst", "0 = the rate, at least 1",
		func(a *admin.App) int { return a.APIRateBurst }, func(s *admin.Settings) **int { return &s.APIRateBurst }),
}

// settingsForm is the create and edit form's state: what it shows, as
// strings, so a refused form comes back as it was sent.
type settingsForm struct {
	Create            bool
	Action            string
	ID, Key, Secret   string
	ClientMessages    bool
	RequireSignin     bool
	SubscriptionCount bool
	Numbers           []numberValue
	AllowedOrigins    string
	Webhooks          []webhookRow
	EventTypes        []string
	WebhookRows       int
	// WebhooksElsewhere counts the webhooks of an app with more than the
	// form has rows for: the form then leaves them alone.
	WebhooksElsewhere int
	// Test is the answer to a test webhook, shown above the form.
	Test *webhookTestView
}

type numberValue struct {
	Name, Label, Help, Value string
	Step                     string
}

type webhookRow struct {
	Index      int
	Saved      bool // the row shows the stored webhook: it can be tested
	URL        string
	Events     map[string]bool
	Headers    string
	StartsWith string
	EndsWith   string
}

// formFromApp fills the form with a's settings.
func formFromApp(a admin.App, create bool) *settingsForm {
	f := &settingsForm{
		Create:            create,
		ID:                a.ID,
		Key:               a.Key,
		ClientMessages:    a.EnableClientMessages,
		RequireSignin:     a.RequireSignin,
		SubscriptionCount: a.EnableSubscriptionCount,
		AllowedOrigins:    strings.Join(a.AllowedOrigins, "\n"),
		EventTypes:        config.WebhookEventTypes,
	}
	for _, nf := range numberFields {
		f.Numbers = append(f.Numbers, numberValue{Name: nf.Name, Label: nf.Label, Help: nf.Help, Value: nf.get(&a), Step: step(nf)})
	}
	if len(a.Webhooks) >= maxWebhookRows {
		f.WebhooksElsewhere = len(a.Webhooks)
		return f
	}
	for i, w := range a.Webhooks {
		row := webhookRow{Index: i, Saved: !create, URL: w.URL, Events: map[string]bool{},
			StartsWith: w.Filter.ChannelNameStartsWith, EndsWith: w.Filter.ChannelNameEndsWith}
		for _, et := range w.EventTypes {
			row.Events[et] = true
		}
		for _, name := range slices.Sorted(maps.Keys(w.Headers)) {
			row.Headers += name + ": " + w.Headers[name] + "\n"
		}
		f.Webhooks = append(f.Webhooks, row)
	}
	f.addEmptyRow()
	return f
}

func step(nf numberField) string {
	if nf.float {
		return "any"
	}
	return "1"
}

// addEmptyRow adds a blank webhook row (within the bound) and counts rows.
func (f *settingsForm) addEmptyRow() {
	if len(f.Webhooks) < maxWebhookRows {
		f.Webhooks = append(f.Webhooks, webhookRow{Index: len(f.Webhooks), Events: map[string]bool{}})
	}
	f.WebhookRows = len(f.Webhooks)
}

// defaultApp is what a new app starts with, for the create form.
func defaultApp() admin.App {
	return admin.App{
		MaxPresenceMembers: config.DefaultMaxPresenceMembers,
		MaxEventPayloadKB:  config.DefaultMaxEventPayloadKB,
	}
}

// parseSettings reads a posted settings form into admin.Settings, and into
// the form state to show again if it is refused. On create, an empty field
// is left to the default (and the id, key and secret generated); on edit
// every field is set, an empty number meaning 0, except the webhooks of a
// form without webhook rows (see WebhooksElsewhere). The error is a message
// for people.
func parseSettings(v url.Values, create bool) (admin.Settings, *settingsForm, error) {
	f := &settingsForm{Create: create, EventTypes: config.WebhookEventTypes}
	var s admin.Settings
	var problems []string

	f.Key = strings.TrimSpace(v.Get("key"))
	if create {
		f.ID = strings.TrimSpace(v.Get("id"))
		f.Secret = strings.TrimSpace(v.Get("secret"))
		s.ID, s.Key, s.Secret = optional(f.ID), optional(f.Key), optional(f.Secret)
	} else {
		s.Key = &f.Key
	}

	f.ClientMessages = v.Get("enable_client_messages") != ""
	f.RequireSignin = v.Get("require_signin") != ""
	f.SubscriptionCount = v.Get("enable_subscription_count") != ""
	s.EnableClientMessages = &f.ClientMessages
	s.RequireSignin = &f.RequireSignin
	s.EnableSubscriptionCount = &f.SubscriptionCount

	for _, nf := range numberFields {
		val := strings.TrimSpace(v.Get(nf.Name))
		f.Numbers = append(f.Numbers, numberValue{Name: nf.Name, Label: nf.Label, Help: nf.Help, Value: val, Step: step(nf)})
		switch {
		case val == "" && create:
			continue
		case val == "":
			val = "0"
		}
		if err := nf.set(&s, val); err != nil {
			problems = append(problems, err.Error())
		}
	}

	f.AllowedOrigins = v.Get("allowed_origins")
	origins := []string{}
	for line := range strings.Lines(f.AllowedOrigins) {
		if o := strings.TrimSpace(line); o != "" {
			origins = append(origins, o)
		}
	}
	if !create || len(origins) > 0 {
		s.AllowedOrigins = &origins
	}

	if _, ok := v["webhook_rows"]; !ok && !create {
		f.WebhooksElsewhere = -1 // not in this form: left as they are
		return s, f, joinProblems(problems)
	}
	hooks := []admin.Webhook{}
	rows, _ := strconv.Atoi(v.Get("webhook_rows"))
	for i := range min(max(rows, 0), maxWebhookRows) {
		p := "webhook_" + strconv.Itoa(i) + "_"
		row := webhookRow{Index: len(f.Webhooks), Events: map[string]bool{},
			URL:        strings.TrimSpace(v.Get(p + "url")),
			Headers:    v.Get(p + "headers"),
			StartsWith: strings.TrimSpace(v.Get(p + "starts_with")),
			EndsWith:   strings.TrimSpace(v.Get(p + "ends_with")),
		}
		if row.URL == "" && strings.TrimSpace(row.Headers) == "" && row.StartsWith == "" && row.EndsWith == "" {
			continue // an empty row, or one cleared to remove its webhook
		}
		hook := admin.Webhook{URL: row.URL, EventTypes: []string{},
			Filter: admin.WebhookFilter{ChannelNameStartsWith: row.StartsWith, ChannelNameEndsWith: row.EndsWith}}
		for _, et := range v[p+"event_types"] {
			if !row.Events[et] {
				row.Events[et] = true
				hook.EventTypes = append(hook.EventTypes, et)
			}
		}
		headers, err := parseHeaders(row.Headers)
		if err != nil {
			problems = append(problems, fmt.Sprintf("webhook %d headers: %v", i+1, err))
		}
		hook.Headers = headers
		hooks = append(hooks, hook)
		f.Webhooks = append(f.Webhooks, row)
	}
	if !create || len(hooks) > 0 {
		s.Webhooks = &hooks
	}
	f.addEmptyRow()
	return s, f, joinProblems(problems)
}

func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// parseHeaders reads "Name: value" lines; blank lines are skipped.
func parseHeaders(text string) (map[string]string, error) {
	var out map[string]string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not a line like \"Name: value\"", clip(line, 80))
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[name] = strings.TrimSpace(value)
	}
	return out, nil
}

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
