package admin

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
)

// webConfig is a web configuration file in the format of the Prometheus
// exporters (github.com/prometheus/exporter-toolkit/web): tls_server_config,
// http_server_config, rate_limit and basic_auth_users with bcrypt hashes.
type webConfig struct {
	path string
	web.Config
}

// CheckWebConfig reads the web configuration file at path as the exporters
// do (unknown keys, bad bcrypt hashes and unreadable certificates or keys
// are errors), so that serve refuses a bad file before it starts.
func CheckWebConfig(path string) error {
	if err := web.Validate(path); err != nil {
		return err
	}
	_, err := loadWebConfig(path)
	return err
}

// loadWebConfig reads the file at path with the exporters' defaults (TLS 1.2
// to 1.3, HTTP/2 on) and relative certificate paths taken from the file's
// directory.
func loadWebConfig(path string) (*webConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &webConfig{path: path, Config: web.Config{
		TLSConfig:  web.TLSConfig{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13},
		HTTPConfig: web.HTTPConfig{HTTP2: true},
	}}
	if err := yaml.UnmarshalStrict(data, &c.Config); err != nil {
		return nil, err
	}
	c.TLSConfig.SetDirectory(filepath.Dir(path))
	if c.RateLimiterConfig.Interval < 0 || c.RateLimiterConfig.Burst < 0 {
		return nil, fmt.Errorf("rate_limit: want a positive interval and burst")
	}
	return c, nil
}

// tls returns the TLS configuration to serve with, nil when the file
// configures none.
func (c *webConfig) tls() (*tls.Config, error) {
	if !c.TLSConfig.IsEnabled() {
		return nil, nil
	}
	return web.ConfigToTLSConfig(&c.TLSConfig)
}
