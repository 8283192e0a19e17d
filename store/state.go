package store

import "go.etcd.io/bbolt"

// EntitlementState returns the entitlement checker's persisted state (a JSON
// document the store does not interpret), nil if none was stored.
func (db *DB) EntitlementState() ([]byte, error) { return db.metaBlob(keyEntitlement) }

// SetEntitlementState stores the entitlement checker's state.
func (db *DB) SetEntitlementState(state []byte) error { return db.setMetaBlob(keyEntitlement, state) }

// metaBlob returns a copy of the meta value under key, nil if there is none.
func (db *DB) metaBlob(key []byte) ([]byte, error) {
	var v []byte
	err := db.view(func(tx *bbolt.Tx) error {
		v = append([]byte(nil), tx.Bucket(bucketMeta).Get(key)...)
		return nil
	})
	if len(v) == 0 {
		v = nil
	}
	return v, err
}

// setMetaBlob stores value verbatim under key in the meta bucket, replacing what was there.
func (db *DB) setMetaBlob(key, value []byte) error {
	return db.update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(key, value) })
}

// UsageState returns the usage transmitter's persisted state (a JSON
// document the store does not interpret), nil if none was stored.
func (db *DB) UsageState() ([]byte, error) { return db.metaBlob(keyUsageTransmission) }

// SetUsageState stores the usage transmitter's state.
func (db *DB) SetUsageState(state []byte) error { return db.setMetaBlob(keyUsageTransmission, state) }
