package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
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

// vendorKey returns the public key from path, or the built-in one; flag
// names the option that gives path, for the messages.
func vendorKey(flag, path string) (ed25519.PublicKey, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("%s: %v", flag, err)
		}
		k, err := entitlement.ParsePublicKey(data)
		if err != nil {
			return nil, usagef("%s %s: %v", flag, path, err)
		}
		return k, nil
	}
	if licensePubKey == "" {
		return nil, usagef("no vendor public key: add %s FILE (this binary has none built in)", flag)
	}
	raw, err := base64.StdEncoding.DecodeString(licensePubKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, usagef("the vendor public key built into this binary is not the base64 of %d bytes: add %s FILE", ed25519.PublicKeySize, flag)
	}
	return ed25519.PublicKey(raw), nil
}

// loadLicense reads and verifies a signed licence file with the public key
// from pubPath (given with the option pubFlag), or the built-in one.
func loadLicense(path, pubFlag, pubPath string) (entitlement.License, error) {
	pub, err := vendorKey(pubFlag, pubPath)
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

// serveLicense reads and verifies serve's --license with --license-pubkey
// (or the built-in key). Every error is a configuration error, bad input
// (status 2) at start, and says which option to fix; none of them says
// anything about the contract, which was not looked at.
func serveLicense(path, pubPath string) (entitlement.License, error) {
	if pubPath == "" && licensePubKey == "" {
		return entitlement.License{}, usagef("--license %s needs the vendor's public key to verify it: add --license-pubkey FILE (this binary has none built in)", path)
	}
	pub, err := vendorKey("--license-pubkey", pubPath)
	if err != nil {
		return entitlement.License{}, err
	}
	key := "the key built into this binary"
	if pubPath != "" {
		key = "--license-pubkey " + pubPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return entitlement.License{}, usagef("--license: %v", err)
	}
	l, err := entitlement.Verify(data, pub)
	switch {
	case errors.Is(err, entitlement.ErrSignature):
		return entitlement.License{}, usagef("--license %s does not verify with %s: %w; use the licence file exactly as the vendor sent it, with the vendor's public key", path, key, err)
	case err != nil:
		return entitlement.License{}, usagef("--license %s: %w", path, err)
	}
	return l, nil
}
