// Preloaded into Azurite's node process by the test bed (NODE_OPTIONS
// --require). Azurite keeps each table in a LokiJS collection with separate
// binary indices on PartitionKey and RowKey, and finds one entity with
// findOne({RowKey, PartitionKey}): LokiJS uses the index of the first key
// only and filters the rest by scanning. When many rows share a RowKey
// (holdfast's "case", "idx", "once"), every point read, update, upsert and
// delete scans all of them, which Azure Table Storage, indexed on
// PartitionKey + RowKey, never does. Here the key matching fewer rows goes
// first. Both keys are equalities, so the answer is the same row; only the
// cost changes.
"use strict";
const { createRequire } = require("module");

// Resolve lokijs as Azurite's own entry point does, so the patched class is
// the one Azurite uses.
const from = process.argv[1] ? createRequire(require("fs").realpathSync(process.argv[1])) : require;
const loki = from("lokijs");
const Collection = loki.Collection || new loki("probe").addCollection("probe").constructor;
const findOne = Collection.prototype.findOne;

function matches(coll, prop, val) {
  if (coll.adaptiveBinaryIndices !== true) coll.ensureIndex(prop);
  const r = coll.calculateRange("$eq", prop, val);
  return r[1] - r[0] + 1;
}

function plain(v) {
  return v === null || typeof v !== "object";
}

Collection.prototype.findOne = function (query) {
  if (query && typeof query === "object" && Object.keys(query).length === 2 &&
      plain(query.PartitionKey) && plain(query.RowKey) &&
      this.binaryIndices && this.binaryIndices.PartitionKey && this.binaryIndices.RowKey &&
      this.data.length > 0) {
    query = matches(this, "PartitionKey", query.PartitionKey) <= matches(this, "RowKey", query.RowKey)
      ? { PartitionKey: query.PartitionKey, RowKey: query.RowKey }
      : { RowKey: query.RowKey, PartitionKey: query.PartitionKey };
  }
  return findOne.call(this, query);
};

process.stderr.write("holdfast test bed: selective entity lookup loaded\n");
