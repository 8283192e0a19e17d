// Package entitlement checks a site's right to use the product: signed
// licence files for air-gapped sites, and the grace period that keeps the
// product running while an entitlement cannot be confirmed. It never blocks
// traffic: it reports, in logs, metrics and /readyz.
//
// Licences and extension tokens are JSON documents signed with Ed25519 by
// the vendor. The signature covers the document's exact bytes, so nothing
// needs to be canonicalised: a file is {"license": <document>, "signature":
// <base64>} and any change to the document's bytes breaks the signature.
package entitlement

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// License is what a vendor grants a deployment.
type License struct {
	ID           string    `json:"license_id"`
	Licensee     string    `json:"licensee"`
	Deployment   string    `json:"deployment_id"`
	Environments []string  `json:"environments,omitempty"`
	Product      string    `json:"product"`
	Sessions     uint64    `json:"entitled_sessions_per_year"`
	Start        Date      `json:"contract_start"`
	End          Date      `json:"contract_end"` // the last day of the contract
	Issued       time.Time `json:"issued_at"`
}

// Date is a calendar day, written YYYY-MM-DD, UTC.
type Date struct{ time.Time }

const dateLayout = "2006-01-02"

// MarshalJSON writes the date as "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.Format(dateLayout)) }

// UnmarshalJSON reads a "YYYY-MM-DD" date.
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return fmt.Errorf("%q is not a date: want YYYY-MM-DD", s)
	}
	d.Time = t
	return nil
}

// String returns the date as YYYY-MM-DD.
func (d Date) String() string { return d.Format(dateLayout) }

// Check reports what is missing or inconsistent in l.
func (l License) Check() error {
	switch {
	case l.ID == "":
		return errors.New("license_id is empty")
	case l.Deployment == "":
		return errors.New("deployment_id is empty")
	case l.Start.IsZero() || l.End.IsZero():
		return errors.New("contract_start and contract_end are required")
	case l.End.Before(l.Start.Time):
		return fmt.Errorf("contract_end %s is before contract_start %s", l.End, l.Start)
	}
	return nil
}

// ErrSignature is returned for a document whose signature does not verify
// with the vendor's public key: forged, edited, or signed by another key.
var ErrSignature = errors.New("the signature does not match: the file was changed or not signed with the vendor's key")

// Sign signs the licence document doc (JSON) with the vendor's private key
// and returns the signed file.
func Sign(doc []byte, key ed25519.PrivateKey) ([]byte, error) {
	var l License
	if err := json.Unmarshal(doc, &l); err != nil {
		return nil, fmt.Errorf("the licence is not valid JSON: %w", err)
	}
	if err := l.Check(); err != nil {
		return nil, err
	}
	return signDocument("license", l, key)
}

// signDocument writes {"<field>": <v as compact JSON>, "signature": <base64>},
// the signature over exactly the document's bytes. It is written by hand: an
// indenting encoder would re-indent the document and break the signature.
func signDocument(field string, v any, key ed25519.PrivateKey) ([]byte, error) {
	compact, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	sig, err := json.Marshal(ed25519.Sign(key, compact))
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("{\n  %q: %s,\n  \"signature\": %s\n}\n", field, compact, sig)), nil
}

// verifyDocument checks a file written by signDocument and decodes its
// document into v. what names the document in errors.
func verifyDocument(file []byte, field, what string, pub ed25519.PublicKey, v any) error {
	var s map[string]json.RawMessage
	var sig []byte
	if err := json.Unmarshal(file, &s); err != nil || len(s[field]) == 0 || json.Unmarshal(s["signature"], &sig) != nil {
		return fmt.Errorf("not a signed headcount %s", what)
	}
	if !ed25519.Verify(pub, s[field], sig) {
		return ErrSignature
	}
	if err := json.Unmarshal(s[field], v); err != nil {
		return fmt.Errorf("the signed %s does not read: %w", what, err)
	}
	return nil
}

// Product is the product a licence must name, if it names one: a vendor's
// licence for another product, signed with the same key, grants nothing here.
const Product = "headcount"

// Verify checks a signed licence file with the vendor's public key and
// returns the licence. A licence naming another product is refused.
func Verify(file []byte, pub ed25519.PublicKey) (License, error) {
	var l License
	if err := verifyDocument(file, "license", "licence", pub, &l); err != nil {
		return License{}, err
	}
	if l.Product != "" && l.Product != Product {
		return License{}, fmt.Errorf("licence %s is for the product %q, not %s", l.ID, l.Product, Product)
	}
	return l, l.Check()
}

// GenerateKey returns a new Ed25519 key pair, PEM-encoded: the private key
// in PKCS #8, the public key in PKIX form.
func GenerateKey() (private, public []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// ParsePrivateKey reads a PEM Ed25519 private key made by GenerateKey.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 private key")
	}
	return priv, nil
}

// ParsePublicKey reads a PEM Ed25519 public key made by GenerateKey.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 public key")
	}
	return pub, nil
}
