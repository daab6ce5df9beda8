//! Any range of Ethereum headers as one proof. The range is cut into
//! segments ([`plan`]); each segment is an ordinary header-chain proof made
//! with the Poseidon transcript ([`segment`]); one aggregation circuit
//! ([`aggregate`]) verifies every segment proof in-circuit and constrains the
//! links between them ([`links`]), exposing the range's statement and a KZG
//! accumulator. Its key and proof files, and their verification, live in
//! [`files`].

pub mod aggregate;
pub mod files;
pub mod links;
pub mod plan;
pub mod prover;
pub mod segment;
