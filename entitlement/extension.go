package entitlement

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Extension is a vendor's one-time extension of the grace period.
type Extension struct {
	TokenID    string    `json:"token_id"`
	LicenseID  string    `json:"license_id,omitempty"`
	Deployment string    `json:"deployment_id"`
	Days       int       `json:"extension_days"`
	Issued     time.Time `json:"issued_at"`
}

// Check reports what is wrong with e.
func (e Extension) Check() error {
	switch {
	case e.TokenID == "":
		return errors.New("token_id is empty")
	case e.Deployment == "":
		return errors.New("deployment_id is empty")
	case e.Days < 1 || e.Days > MaxExtensionDays:
		return fmt.Errorf("extension_days %d: an extension is 1 to %d days", e.Days, MaxExtensionDays)
	}
	return nil
}

// SignExtension signs an extension document (JSON) with the vendor's key.
func SignExtension(doc []byte, key ed25519.PrivateKey) ([]byte, error) {
	var e Extension
	if err := json.Unmarshal(doc, &e); err != nil {
		return nil, fmt.Errorf("the extension is not valid JSON: %w", err)
	}
	if err := e.Check(); err != nil {
		return nil, err
	}
	return signDocument("extension", e, key)
}

// VerifyExtension checks a signed extension token with the vendor's public
// key and returns the extension.
func VerifyExtension(file []byte, pub ed25519.PublicKey) (Extension, error) {
	var e Extension
	if err := verifyDocument(file, "extension", "extension token", pub, &e); err != nil {
		return Extension{}, err
	}
	return e, e.Check()
}

// ErrExtensionUsed is returned when a deployment already had its one-time
// extension.
var ErrExtensionUsed = errors.New("the one-time extension was already applied")

// Apply grants e to st for deployment: once, and only one extension ever.
func (e Extension) Apply(st State, deployment string) (State, error) {
	if e.Deployment != deployment {
		return st, fmt.Errorf("the token is for deployment %q, this one is %q", e.Deployment, deployment)
	}
	if st.ExtensionToken != "" {
		return st, fmt.Errorf("%w (token %s, %d days)", ErrExtensionUsed, st.ExtensionToken, st.ExtensionDays)
	}
	st.ExtensionDays, st.ExtensionToken = e.Days, e.TokenID
	return st, nil
}
