package pusher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/heraldhq/herald/pusher"
)

func ExampleClient_Trigger() {
	c, err := pusher.New(pusher.Config{AppID: "1", Key: "app-key", Secret: "app-secret", Host: "127.0.0.1:6001"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Trigger(context.Background(), pusher.TriggerParams{
		Channels: []string{"orders"},
		Event:    "order-shipped",
		Data:     map[string]any{"id": 42},
		Info:     []string{pusher.InfoSubscriptionCount},
	})
	var re *pusher.RequestError
	var ve *pusher.ValidationError
	switch {
	case errors.As(err, &ve):
		log.Printf("bad %s: %s", ve.Field, ve.Reason) // nothing was sent
	case errors.As(err, &re):
		log.Printf("server said %d: %s", re.Status, re.Body)
	case err != nil:
		log.Print(err) // network, timeout
	default:
		if n := res.Channels["orders"].SubscriptionCount; n != nil {
			log.Printf("delivered to %d connections", *n)
		}
	}
}

func ExampleClient_AuthorizeChannel() {
	c, err := pusher.New(pusher.Config{
		AppID: "1", Key: "app-key", Secret: "app-secret", Host: "127.0.0.1:6001",
		EncryptionMasterKeyBase64: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range []pusher.ChannelAuthParams{
		{SocketID: "123.456", Channel: "private-foobar"},
		{SocketID: "123.456", Channel: "presence-foobar", Member: &pusher.Member{UserID: "10", UserInfo: map[string]string{"name": "Mr. Channels"}}},
		{SocketID: "123.456", Channel: "private-encrypted-foobar"},
	} {
		auth, err := c.AuthorizeChannel(p)
		if err != nil {
			log.Fatal(err)
		}
		b, _ := json.Marshal(auth)
		fmt.Println(string(b))
	}
	// Output:
	// {"auth":"app-key:86df2f9450c48ed0131f49e4bc64af54a334ce51c7c0ba2006d593253d6a0579"}
	// {"auth":"app-key:b0974982f62839ea4a1ec97c11e9831ef7552582087e1e63a71e6ef2b764d223","channel_data":"{\"user_id\":\"10\",\"user_info\":{\"name\":\"Mr. Channels\"}}"}
	// {"auth":"app-key:25920e165a309008fd9a71ce35583cb582ba692f2a6ef671a3791700b1c5a654","shared_secret":"g3Au6SZ+UCU+IMfFsFva0rq+Gi4tzSHR6WCcWZbS9sY="}
}

func ExampleClient_AuthenticateUser() {
	c, err := pusher.NewFromURL("http://app-key:app-secret@127.0.0.1:6001/apps/1")
	if err != nil {
		log.Fatal(err)
	}
	ua, err := c.AuthenticateUser(pusher.UserAuthParams{SocketID: "123.456", User: pusher.UserData{ID: "12345"}})
	if err != nil {
		log.Fatal(err)
	}
	b, _ := json.Marshal(ua)
	fmt.Println(string(b))
	// Output:
	// {"auth":"app-key:03c727f31eb6ae85db9d416dc115dccd41de199a44e77e5abdc06d769d7597ad","user_data":"{\"id\":\"12345\"}"}
}

// An auth endpoint for pusher-js (channelAuthorization.endpoint).
func ExampleParseChannelAuthRequest() {
	c, err := pusher.NewFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	http.HandleFunc("/pusher/auth", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		p, err := pusher.ParseChannelAuthRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Decide here whether the logged-in user may join p.Channel.
		if strings.HasPrefix(p.Channel, "presence-") {
			p.Member = &pusher.Member{UserID: "42", UserInfo: map[string]string{"name": "Ann"}}
		}
		auth, err := c.AuthorizeChannel(p)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(auth)
	})
}

func ExampleClient_ParseWebhookRequest() {
	c, err := pusher.NewFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	http.HandleFunc("/pusher/webhook", func(w http.ResponseWriter, r *http.Request) {
		wh, err := c.ParseWebhookRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		for _, e := range wh.Events {
			log.Printf("%s %s user=%s at %s", e.Name, e.Channel, e.UserID, wh.Time())
		}
	})
}
