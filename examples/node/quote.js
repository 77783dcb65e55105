// Calls the rating service from Node.js, from the .proto files alone:
//   RATING_TARGET=127.0.0.1:50051 node quote.js
// It creates an account (if new), quotes a batch, commits it, and sends a bad batch
// to show the google.rpc.BadRequest the server answers with.
"use strict";

const path = require("node:path");
const crypto = require("node:crypto");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const target = process.env.RATING_TARGET || "127.0.0.1:50051";
// The repository's protos/ (rating/v1/*.proto) and the googleapis protos of the
// rich error details, vendored under protos/ here.
const ratingProtos = process.env.RATING_PROTOS || path.join(__dirname, "..", "..", "protos");
const googleProtos = path.join(__dirname, "protos");

const options = {
  keepCase: true, // the fields as the .proto files name them: usage_id, total_points
  longs: String, // int64 as decimal strings: a JavaScript number loses digits past 2^53
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [ratingProtos, googleProtos],
};
const definition = protoLoader.loadSync(
  ["rating/v1/rating_service.proto", "rating/v1/account_service.proto"],
  options,
);
const v1 = grpc.loadPackageDefinition(definition).rating.v1;
const credentials = grpc.credentials.createInsecure();
const rating = new v1.RatingService(target, credentials);
const accounts = new v1.AccountService(target, credentials);

// google.rpc.Status and its details, to read the grpc-status-details-bin trailer.
const details = new protobuf.Root();
details.resolvePath = (_origin, target) =>
  target.startsWith("google/protobuf/") ? target : path.join(googleProtos, target);
details.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
details.resolveAll();
const Status = details.lookupType("google.rpc.Status");

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 10_000);
    client[method](request, { deadline }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

// A quantity is an int64: protobufjs turns 2.7 into 2 without a word, so refuse
// anything but a whole number (or send a string of digits).
function quantity(value) {
  if (!Number.isSafeInteger(value) && !/^[0-9]+$/.test(String(value))) {
    throw new RangeError(`quantity must be a whole number of base units, not ${value}`);
  }
  return String(value);
}

function item(usageId, accountId, sku, count) {
  return {
    usage_id: usageId,
    account_id: accountId,
    sku,
    quantity: quantity(count),
    occurred_at: { seconds: String(Math.floor(Date.now() / 1000) - 60), nanos: 0 },
  };
}

// The rich error details of a failed call: google.rpc.Status in the
// grpc-status-details-bin trailer, its details google.protobuf.Any values.
function richDetails(error) {
  const [bytes] = error.metadata.get("grpc-status-details-bin");
  if (!bytes) return [];
  const status = Status.decode(bytes);
  return status.details.map((any) => {
    const name = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
    return { name, value: details.lookupType(name).decode(any.value) };
  });
}

async function main() {
  const account = process.env.RATING_ACCOUNT || "node-example";
  try {
    await call(accounts, "CreateAccount", { account_id: account, plan: "pro" });
  } catch (error) {
    if (error.code !== grpc.status.ALREADY_EXISTS) throw error;
  }

  const run = crypto.randomUUID();
  const items = [
    item(`${run}:1`, account, "agent.call", 3),
    item(`${run}:2`, account, "model.doubao-pro-32k.input", 1234),
  ];
  const quote = await call(rating, "Quote", { items });
  console.log(`Quote: ${quote.total_points} points (${quote.total_yuan} yuan), catalog version ${quote.catalog_version}`);
  for (const line of quote.lines) {
    const price = `${line.unit_price} points per ${line.price_unit_label}`;
    console.log(`  ${line.sku}: ${line.quantity} at ${price} -> ${line.points} points`);
  }

  const receipt = await call(rating, "CommitCharges", { request_id: `req-${run}`, items });
  console.log(`CommitCharges: ${receipt.charge_id}, ${receipt.total_points} points`);

  try {
    await call(rating, "Quote", {
      items: [item("bad-1", account, "no.such.sku", 1), item("", account, "agent.call", 1)],
    });
  } catch (error) {
    console.log(`Bad Quote: ${grpc.status[error.code]}: ${error.details}`);
    for (const { name, value } of richDetails(error)) {
      if (name === "google.rpc.ErrorInfo") {
        console.log(`  ErrorInfo: reason ${value.reason}, domain ${value.domain}`);
      } else if (name === "google.rpc.BadRequest") {
        for (const violation of value.field_violations) {
          console.log(`  BadRequest: ${violation.field} ${violation.reason}: ${violation.description}`);
        }
      }
    }
  }
  try {
    item("trap", account, "agent.call", 2.7);
  } catch (error) {
    console.log(`Not sent: ${error.message} (protobufjs would send 2)`);
  }
  rating.close();
  accounts.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
