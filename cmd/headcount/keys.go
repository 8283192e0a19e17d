package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"

	"headcount/entitlement"
)

// licensePubKey is the vendor's licence-signing public key compiled in with
// -ldflags "-X main.licensePubKey=BASE64" (the 32 raw bytes); --license-pubkey
// overrides it.
var licensePubKey string

// readPrivateKey reads a PEM Ed25519 private key made by headcount keygen.
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{err}
	}
	key, err := entitlement.ParsePrivateKey(data)
	if err != nil {
		return nil, usagef("--key %s: %v", path, err)
	}
	return key, nil
}

// vendorKey returns the public key from path, or the built-in one.
func vendorKey(path string) (ed25519.PublicKey, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usageError{err}
		}
		k, err := entitlement.ParsePublicKey(data)
		if err != nil {
			return nil, usagef("%s: %v", path, err)
		}
		return k, nil
	}
	raw, err := base64.StdEncoding.DecodeString(licensePubKey)
	if licensePubKey == "" || err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, usagef("no vendor public key: pass --license-pubkey FILE (this binary has none built in)")
	}
	return ed25519.PublicKey(raw), nil
}

// loadLicense reads and verifies a signed licence file.
func loadLicense(path, pubPath string) (entitlement.License, error) {
	pub, err := vendorKey(pubPath)
	if err != nil {
		return entitlement.License{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return entitlement.License{}, usageError{err}
	}
	l, err := entitlement.Verify(data, pub)
	if err != nil {
		return entitlement.License{}, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}
