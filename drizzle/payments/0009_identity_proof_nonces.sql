-- Nonces of the identity proofs that moved money (shared/http/proof-nonces.ts): one use across every instance.
CREATE TABLE "identity_proof_nonces" (
	"nonce" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
