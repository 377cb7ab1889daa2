package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/cryptotracker/ctmd/service/marketdata"
)

// Migrate brings the database to marketdata.SchemaVersion exactly as the original service did:
// unique indexes first, then the seed currencies, then the version marker. Every step is an
// idempotent upsert guarded by a unique index, so replicas starting together cannot duplicate
// a currency; the marker is written last, so a migrator that dies half-way is finished by the next.
func (s *Store) Migrate(ctx context.Context) error {
	client := s.client.Load()
	if client == nil {
		return marketdata.ErrUnavailable
	}
	db := client.Database(s.cfg.Database)
	version, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version >= marketdata.SchemaVersion {
		return nil
	}
	if err := createIndexes(ctx, db); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	currencies := db.Collection(CurrenciesCollection)
	for _, c := range marketdata.SeedCurrencies {
		err := retryOnDuplicate(func() error {
			_, err := currencies.UpdateOne(ctx,
				bson.D{{Key: "Symbol", Value: c.Symbol}},
				bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "Symbol", Value: c.Symbol}, {Key: "Name", Value: c.Name}}}},
				options.Update().SetUpsert(true))
			return err
		})
		if err != nil {
			return fmt.Errorf("seed currency %s: %w", c.Symbol, err)
		}
	}
	err = retryOnDuplicate(func() error {
		// $max, not $set: a newer service that already moved the schema on must not be rolled back.
		_, err := db.Collection(SettingsCollection).UpdateOne(ctx,
			bson.D{{Key: "name", Value: schemaVersionSetting}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "value", Value: int32(marketdata.SchemaVersion)}}}},
			options.Update().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	s.cfg.Logger.Info("database migrated", "database", s.cfg.Database, "from", version, "to", marketdata.SchemaVersion)
	return nil
}

// retryOnDuplicate runs an upsert once more when it lost a race: two upserts that both miss the
// document both try to insert, the unique index rejects the second, and its retry now matches.
func retryOnDuplicate(upsert func() error) error {
	err := upsert()
	if mongo.IsDuplicateKeyError(err) {
		err = upsert()
	}
	return err
}

// schemaVersion reads the version marker; a missing one is version 0. The value is read as any
// numeric BSON type because the original (C#) service and mongosh users may have written it as
// int32, int64 or double.
func schemaVersion(ctx context.Context, db *mongo.Database) (int64, error) {
	var doc struct {
		Value bson.RawValue `bson:"value"`
	}
	err := db.Collection(SettingsCollection).FindOne(ctx, bson.D{{Key: "name", Value: schemaVersionSetting}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, ok := doc.Value.AsInt64OK()
	if !ok {
		return 0, dataError{schemaVersionSetting + " value", fmt.Sprintf("has BSON type %s, want a number", doc.Value.Type)}
	}
	return v, nil
}

func createIndexes(ctx context.Context, db *mongo.Database) error {
	unique := func(field, name string) mongo.IndexModel {
		return mongo.IndexModel{
			Keys:    bson.D{{Key: field, Value: 1}},
			Options: options.Index().SetName(name).SetUnique(true),
		}
	}
	if _, err := db.Collection(CurrenciesCollection).Indexes().CreateOne(ctx, unique("Symbol", CurrencySymbolIndex)); err != nil {
		return err
	}
	_, err := db.Collection(SettingsCollection).Indexes().CreateOne(ctx, unique("name", SettingNameIndex))
	return err
}
