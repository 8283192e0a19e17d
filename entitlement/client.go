package entitlement

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The online check, a small HTTP+JSON protocol:
//
//	POST <url>
//	{"deployment_id": "dx-prod", "license_id": "L-2026-0042", "product": "headcount"}
//
//	200 OK
//	{"status": "valid", "contract_end": "2026-12-31"}      (contract_end optional)
//	{"status": "expired", "contract_end": "2026-12-31"}
//	{"status": "none"}
//
// Anything else — another status code, a body that does not read, no answer
// within the timeout, no connection — is "unreachable".

// Request is the online check's request body: nothing about users.
type Request struct {
	Deployment string `json:"deployment_id"`
	License    string `json:"license_id,omitempty"`
	Product    string `json:"product"`
}

// Answer is the entitlement server's answer.
type Answer struct {
	Status string `json:"status"`
	End    *Date  `json:"contract_end,omitempty"`
}

// Client asks an entitlement server.
type Client struct {
	URL  string
	HTTP *http.Client
}

// CheckTimeout bounds one online check: it runs beside metering and never
// holds anything up.
const CheckTimeout = 5 * time.Second

// NewClient returns a client for url; caPEM, when not empty, replaces the
// system's certificate authorities (a site's own CA).
func NewClient(url string, caPEM []byte) (*Client, error) {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: CheckTimeout}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("no PEM certificate in the CA file")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{URL: url, HTTP: &http.Client{Transport: tr, Timeout: CheckTimeout}}, nil
}

// Check asks the server about req and returns the evidence: ServerValid,
// ServerExpired or ServerNone, or ServerUnreachable with the reason.
func (c *Client) Check(ctx context.Context, req Request) (Evidence, error) {
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return Evidence{Kind: ServerUnreachable}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(hr)
	if err != nil {
		return Evidence{Kind: ServerUnreachable}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Evidence{Kind: ServerUnreachable}, fmt.Errorf("the entitlement server answered %s", resp.Status)
	}
	var a Answer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&a); err != nil {
		return Evidence{Kind: ServerUnreachable}, fmt.Errorf("the entitlement server's answer does not read: %w", err)
	}
	switch a.Status {
	case "valid":
		ev := Evidence{Kind: ServerValid}
		if a.End != nil {
			ev.License.End = *a.End
		}
		return ev, nil
	case "expired":
		if a.End == nil {
			return Evidence{Kind: ServerUnreachable}, errors.New(`the entitlement server answered "expired" without contract_end`)
		}
		return Evidence{Kind: ServerExpired, End: *a.End}, nil
	case "none":
		return Evidence{Kind: ServerNone}, nil
	}
	return Evidence{Kind: ServerUnreachable}, fmt.Errorf("the entitlement server answered an unknown status %q", a.Status)
}
