//! `--mix valid=90,not_found=5,...`: which share of the requests asks for which outcome.

use std::fmt;

/// What a request is built to provoke; the bench checks every answer against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Expect {
    /// A known person whose qualification is in force (QualificationValidity 1).
    Valid,
    /// Nobody the registry knows (an unregistered card, an unknown insured number).
    NotFound,
    /// A known person whose certificate expired beyond the grace period.
    Expired,
    /// A known person's certificate with a signature over another challenge.
    BadSignature,
    /// A request the service must refuse as malformed (a 9-digit 医療機関コード).
    Invalid,
}

impl Expect {
    pub(crate) const ALL: [Expect; 5] = [
        Expect::Valid,
        Expect::NotFound,
        Expect::Expired,
        Expect::BadSignature,
        Expect::Invalid,
    ];

    /// The kind as `--mix` writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Expect::Valid => "valid",
            Expect::NotFound => "not_found",
            Expect::Expired => "expired",
            Expect::BadSignature => "bad_signature",
            Expect::Invalid => "invalid",
        }
    }

    fn from_name(name: &str) -> Option<Expect> {
        Expect::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Integer weights per kind, and a deterministic table that spreads them evenly over the
/// request indices (request `k` asks for `table[k % len]`), so that every run with the same
/// mix sends the same sequence and no kind comes in bursts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mix {
    weights: Vec<(Expect, u32)>,
    table: Vec<Expect>,
}

/// Why a `--mix` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MixError {
    #[error("--mix: {0:?} is not KIND=WEIGHT (kinds: valid, not_found, expired, bad_signature, invalid)")]
    Syntax(String),
    #[error(
        "--mix: unknown kind {0:?} (kinds: valid, not_found, expired, bad_signature, invalid)"
    )]
    UnknownKind(String),
    #[error("--mix: {0} is given twice")]
    Repeated(Expect),
    #[error("--mix: weights must be whole numbers from 0 to 1000000, got {0:?}")]
    Weight(String),
    #[error("--mix: the weights add up to 0; give at least one kind a positive weight")]
    Empty,
}

impl Mix {
    /// Only valid requests.
    pub(crate) fn all_valid() -> Mix {
        Mix::from_weights(vec![(Expect::Valid, 1)])
    }

    pub(crate) fn parse(text: &str) -> Result<Mix, MixError> {
        let mut weights: Vec<(Expect, u32)> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| MixError::Syntax(part.to_owned()))?;
            let kind = Expect::from_name(name.trim())
                .ok_or_else(|| MixError::UnknownKind(name.trim().to_owned()))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .ok()
                .filter(|w| *w <= 1_000_000)
                .ok_or_else(|| MixError::Weight(weight.trim().to_owned()))?;
            if weights.iter().any(|(k, _)| *k == kind) {
                return Err(MixError::Repeated(kind));
            }
            weights.push((kind, weight));
        }
        weights.retain(|(_, w)| *w > 0);
        if weights.is_empty() {
            return Err(MixError::Empty);
        }
        Ok(Mix::from_weights(weights))
    }

    fn from_weights(mut weights: Vec<(Expect, u32)>) -> Mix {
        weights.sort();
        let divisor = weights.iter().fold(0, |g, (_, w)| gcd(g, *w)).max(1);
        for (_, weight) in &mut weights {
            *weight /= divisor;
        }
        // Smooth weighted round robin: each kind is spread as evenly as its share allows.
        let total: i64 = weights.iter().map(|(_, w)| i64::from(*w)).sum();
        let mut credit: Vec<i64> = vec![0; weights.len()];
        let mut table = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for _ in 0..total {
            for (slot, (_, weight)) in credit.iter_mut().zip(&weights) {
                *slot += i64::from(*weight);
            }
            let best = (0..credit.len()).max_by_key(|&i| (credit[i], -(i as i64)));
            if let Some(best) = best {
                credit[best] -= total;
                table.push(weights[best].0);
            }
        }
        Mix { weights, table }
    }

    /// What request `index` asks for.
    pub(crate) fn pick(&self, index: u64) -> Expect {
        let len = self.table.len().max(1) as u64;
        self.table
            .get((index % len) as usize)
            .copied()
            .unwrap_or(Expect::Valid)
    }

    pub(crate) fn kinds(&self) -> impl Iterator<Item = Expect> + '_ {
        self.weights.iter().map(|(kind, _)| *kind)
    }

    pub(crate) fn weights(&self) -> &[(Expect, u32)] {
        &self.weights
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_reduced_and_spread_evenly() {
        let mix = Mix::parse("valid=90, not_found=10").unwrap();
        assert_eq!(mix.weights(), &[(Expect::Valid, 9), (Expect::NotFound, 1)]);
        let first_ten: Vec<Expect> = (0..10).map(|k| mix.pick(k)).collect();
        assert_eq!(
            first_ten.iter().filter(|k| **k == Expect::NotFound).count(),
            1
        );
        let hundred = (0..100)
            .filter(|k| mix.pick(*k) == Expect::NotFound)
            .count();
        assert_eq!(hundred, 10);
    }

    #[test]
    fn three_kinds_keep_their_shares() {
        let mix = Mix::parse("valid=2,expired=1,invalid=1").unwrap();
        let counts = |kind| (0..400).filter(|k| mix.pick(*k) == kind).count();
        assert_eq!(counts(Expect::Valid), 200);
        assert_eq!(counts(Expect::Expired), 100);
        assert_eq!(counts(Expect::Invalid), 100);
    }

    #[test]
    fn bad_mixes_are_refused_with_their_reason() {
        assert_eq!(Mix::parse("valid"), Err(MixError::Syntax("valid".into())));
        assert_eq!(
            Mix::parse("valid=1,bogus=2"),
            Err(MixError::UnknownKind("bogus".into()))
        );
        assert_eq!(
            Mix::parse("valid=1,valid=2"),
            Err(MixError::Repeated(Expect::Valid))
        );
        assert_eq!(Mix::parse("valid=-1"), Err(MixError::Weight("-1".into())));
        assert_eq!(Mix::parse("valid=0"), Err(MixError::Empty));
        assert_eq!(Mix::parse(""), Err(MixError::Empty));
    }
}
