//! Property test: random sequences of protocol operations, with the books checked after every
//! step. Whatever succeeds or fails, the vaults must hold exactly the open escrows and the
//! stakes (plus what strangers sent in and the authority did not sweep yet), every settlement
//! must add up, and no token may appear or vanish.

mod common;

use common::*;
use compute_market_client::{ix, Pubkey, SlotState};
use proptest::prelude::*;
use solana_sdk::{signature::Keypair, signer::Signer};

const REQUESTERS: usize = 2;
const PROVIDERS: usize = 4;
const REQUESTER_FUNDS: u64 = 1_000_000;
const PROVIDER_FUNDS: u64 = 5_000;
const INITIAL_STAKE: u64 = 3_000;

#[derive(Clone, Debug)]
enum Op {
    Post {
        who: usize,
        n: u8,
        k: u8,
        reward: u64,
    },
    Claim {
        who: usize,
        job: usize,
    },
    /// The provider holding `slot` of the job commits.
    Commit {
        slot: usize,
        job: usize,
        honest: bool,
    },
    /// The provider holding `slot` of the job reveals.
    Reveal {
        slot: usize,
        job: usize,
    },
    Finalize {
        who: usize,
        job: usize,
    },
    Expire {
        who: usize,
        job: usize,
        slot: u8,
    },
    Cancel {
        job: usize,
    },
    /// The job's requester extends it: more time, and (when `raise` > 0) a maximum `raise`
    /// higher on a new ramp of `ramp` seconds.
    Extend {
        job: usize,
        secs: i64,
        raise: u64,
        ramp: i64,
    },
    Stake {
        who: usize,
        amount: u64,
    },
    Unstake {
        who: usize,
        amount: u64,
    },
    Withdraw {
        who: usize,
    },
    Warp {
        secs: i64,
    },
    /// A stranger sends tokens into both vaults.
    Donate {
        escrow: u64,
        stake: u64,
    },
    /// The authority sweeps a vault's surplus to the treasury.
    Sweep {
        stake: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..PROVIDERS;
    let job = 0..16usize;
    prop_oneof![
        // mostly a valid quorum (a strict majority), sometimes k = n / 2 or k = n + 1
        1 => (0..REQUESTERS, 1..=3u8, 0..=5u8, 1..=50_000u64)
            .prop_map(|(who, n, k, reward)| Op::Post { who, n, k: match k {
                4 => n / 2,
                5 => n + 1,
                k => n / 2 + 1 + k % (n - n / 2),
            }, reward }),
        4 => (who.clone(), job.clone()).prop_map(|(who, job)| Op::Claim { who, job }),
        5 => (0..3usize, job.clone(), prop::bool::weighted(0.8))
            .prop_map(|(slot, job, honest)| Op::Commit { slot, job, honest }),
        5 => (0..3usize, job.clone()).prop_map(|(slot, job)| Op::Reveal { slot, job }),
        2 => (who.clone(), job.clone()).prop_map(|(who, job)| Op::Finalize { who, job }),
        1 => (who.clone(), job.clone(), 0..3u8).prop_map(|(who, job, slot)| Op::Expire { who, job, slot }),
        1 => job.clone().prop_map(|job| Op::Cancel { job }),
        1 => (job, 0..400i64, 0..3_000u64, 0..200i64)
            .prop_map(|(job, secs, raise, ramp)| Op::Extend { job, secs, raise, ramp }),
        1 => (who.clone(), 1..2_000u64).prop_map(|(who, amount)| Op::Stake { who, amount }),
        1 => (who.clone(), 1..1_500u64).prop_map(|(who, amount)| Op::Unstake { who, amount }),
        1 => who.prop_map(|who| Op::Withdraw { who }),
        1 => prop_oneof![1..120i64, 300..1_500i64].prop_map(|secs| Op::Warp { secs }),
        1 => (1..500u64, 1..500u64).prop_map(|(escrow, stake)| Op::Donate { escrow, stake }),
        1 => any::<bool>().prop_map(|stake| Op::Sweep { stake }),
    ]
}

struct World {
    env: Env,
    requesters: Vec<Keypair>,
    providers: Vec<Keypair>,
    jobs: Vec<(Pubkey, usize)>,
    nonce: u64,
    /// Tokens donated so far (minted for strangers: the supply grows by them), and what of them
    /// sits in the vaults unswept, by this test's own count.
    donated: (u64, u64),
    surplus: (u64, u64),
    swept: (u64, u64),
}

impl World {
    fn new() -> Self {
        let mut env = Env::new();
        let requesters = (0..REQUESTERS)
            .map(|_| env.requester(REQUESTER_FUNDS))
            .collect();
        let providers: Vec<Keypair> = (0..PROVIDERS)
            .map(|_| env.provider_with_stake(INITIAL_STAKE))
            .collect();
        let m = env.market.state.clone();
        for p in &providers {
            env.fund(
                &p.pubkey(),
                &m.stake_mint,
                &m.stake_token_program,
                PROVIDER_FUNDS,
            );
        }
        World {
            env,
            requesters,
            providers,
            jobs: vec![],
            nonce: 0,
            donated: (0, 0),
            surplus: (0, 0),
            swept: (0, 0),
        }
    }

    /// Index of the provider holding `slot` of `job`, if any.
    fn holder(&self, job: &Pubkey, slot: usize) -> Option<usize> {
        let state = self.env.job(job)?;
        let owner = state
            .slots
            .get(slot)
            .filter(|s| s.state != SlotState::Free)?
            .provider;
        self.providers.iter().position(|p| p.pubkey() == owner)
    }

    /// The keypair among `requesters` whose wallet is `requester`.
    fn requester_of(requesters: &[Keypair], requester: &Pubkey) -> Keypair {
        requesters
            .iter()
            .find(|r| r.pubkey() == *requester)
            .expect("every job is posted by one of the world's requesters")
            .insecure_clone()
    }

    /// The result provider `who` computes for job number `job_no`: honest ones agree.
    fn root(job_no: usize, who: usize, honest: bool) -> [u8; 32] {
        if honest {
            [job_no as u8 + 1; 32]
        } else {
            [100 + who as u8; 32]
        }
    }

    fn apply(&mut self, op: &Op) {
        let env = &mut self.env;
        let jobs = &self.jobs;
        // Mostly the newest jobs, so that claims, commits and reveals meet on the same job.
        let pick = |i: usize| {
            let back = i.saturating_sub(10) % jobs.len().max(1);
            (!jobs.is_empty()).then(|| jobs[jobs.len() - 1 - back])
        };
        match *op {
            Op::Post { who, n, k, reward } => {
                self.nonce += 1;
                let r = self.requesters[who].insecure_clone();
                if let Ok(job) = env.try_post(&r, env.post_args(self.nonce, reward, n, k)) {
                    self.jobs.push((job, self.jobs.len()));
                }
            }
            Op::Claim { who, job } => {
                if let Some((job, _)) = pick(job) {
                    let _ = env.claim(&self.providers[who].insecure_clone(), &job);
                }
            }
            Op::Commit { slot, job, honest } => {
                if let Some((job, no)) = pick(job) {
                    if let Some(who) = self.holder(&job, slot) {
                        let p = self.providers[who].insecure_clone();
                        let root = Self::root(no, who, honest);
                        let _ = self.env.commit(&p, &job, root, salt(who as u8));
                    }
                }
            }
            Op::Reveal { slot, job } => {
                if let Some((job, no)) = pick(job) {
                    if let Some(who) = self.holder(&job, slot) {
                        let p = self.providers[who].insecure_clone();
                        // a provider reveals whichever of its two possible roots it committed to
                        for honest in [true, false] {
                            let root = Self::root(no, who, honest);
                            if self.env.reveal(&p, &job, root, salt(who as u8)).is_ok() {
                                break;
                            }
                        }
                    }
                }
            }
            Op::Finalize { who, job } => {
                if let Some((job, _)) = pick(job) {
                    if env.job(&job).is_some() {
                        let p = self.providers[who].insecure_clone();
                        let _ = env.finalize(&p, &job);
                    }
                }
            }
            Op::Expire { who, job, slot } => {
                if let Some((job, _)) = pick(job) {
                    if env.job(&job).is_some() {
                        let p = self.providers[who].insecure_clone();
                        let _ = env.expire(&p, &job, slot);
                    }
                }
            }
            Op::Cancel { job } => {
                if let Some((job, _)) = pick(job) {
                    if let Some(state) = env.job(&job) {
                        let r = Self::requester_of(&self.requesters, &state.requester);
                        let (market, to) = (env.market.clone(), env.payment_ata(&r.pubkey()));
                        let _ = env.send(&[ix::cancel_job(&r.pubkey(), &market, &job, &to)], &[&r]);
                    }
                }
            }
            Op::Extend {
                job,
                secs,
                raise,
                ramp,
            } => {
                if let Some((job, _)) = pick(job) {
                    if let Some(state) = env.job(&job) {
                        let r = Self::requester_of(&self.requesters, &state.requester);
                        let args = compute_market_client::JobExtendArgs {
                            extend_seconds: secs,
                            reprice: (raise > 0).then_some(compute_market_client::JobReprice {
                                reward_per_replica: state.reward_per_replica + raise,
                                ramp_seconds: ramp,
                            }),
                        };
                        let (market, from) = (env.market.clone(), env.payment_ata(&r.pubkey()));
                        let _ = env.send(
                            &[ix::extend_job(&r.pubkey(), &market, &job, &from, args)],
                            &[&r],
                        );
                    }
                }
            }
            Op::Stake { who, amount } => {
                let p = self.providers[who].insecure_clone();
                let (market, from) = (env.market.clone(), env.stake_ata(&p.pubkey()));
                let _ = env.send(&[ix::stake(&p.pubkey(), &market, &from, amount)], &[&p]);
            }
            Op::Unstake { who, amount } => {
                let p = self.providers[who].insecure_clone();
                let market = env.market.clone();
                let _ = env.send(&[ix::request_unstake(&p.pubkey(), &market, amount)], &[&p]);
            }
            Op::Withdraw { who } => {
                let p = self.providers[who].insecure_clone();
                let (market, to) = (env.market.clone(), env.stake_ata(&p.pubkey()));
                let _ = env.send(&[ix::withdraw_stake(&p.pubkey(), &market, &to)], &[&p]);
            }
            Op::Warp { secs } => env.warp(secs),
            Op::Donate { escrow, stake } => {
                env.donate(escrow, stake);
                self.donated.0 += escrow;
                self.donated.1 += stake;
                self.surplus.0 += escrow;
                self.surplus.1 += stake;
            }
            Op::Sweep { stake } => {
                let admin = env.admin.insecure_clone();
                let market = env.market.clone();
                let sweep = ix::sweep_surplus(&admin.pubkey(), &market, stake);
                // only a surplus can be swept, and all of it goes
                let had = if stake {
                    self.surplus.1
                } else {
                    self.surplus.0
                };
                let swept = env.send(&[sweep], &[&admin]).is_ok();
                assert_eq!(
                    swept,
                    had > 0,
                    "a sweep succeeds exactly when there is a surplus"
                );
                if swept && stake {
                    (self.swept.1, self.surplus.1) = (self.swept.1 + had, 0);
                } else if swept {
                    (self.swept.0, self.surplus.0) = (self.swept.0 + had, 0);
                }
            }
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let env = &self.env;
        env.assert_vaults_hold(self.surplus.0, self.surplus.1);
        let swept = |l: Pubkey| env.ledger(&l).unwrap().swept;
        prop_assert_eq!(
            (
                swept(env.market.escrow_ledger()),
                swept(env.market.stake_ledger())
            ),
            self.swept,
            "the ledgers record what was swept"
        );
        // conservation of both mints over every account that can hold them
        let mut wallets: Vec<Pubkey> = self
            .requesters
            .iter()
            .chain(&self.providers)
            .map(|k| k.pubkey())
            .collect();
        wallets.push(env.treasury);
        let payment: u64 = wallets
            .iter()
            .map(|w| env.balance(&env.payment_ata(w)))
            .sum::<u64>()
            + env.escrow_balance();
        let stake: u64 = wallets
            .iter()
            .map(|w| env.balance(&env.stake_ata(w)))
            .sum::<u64>()
            + env.stake_vault_balance();
        prop_assert_eq!(
            payment,
            REQUESTERS as u64 * REQUESTER_FUNDS + self.donated.0,
            "payment tokens conserved"
        );
        prop_assert_eq!(
            stake,
            PROVIDERS as u64 * (INITIAL_STAKE + PROVIDER_FUNDS) + self.donated.1,
            "stake tokens conserved"
        );
        let report = env.audit();
        prop_assert!(report.ok(), "the audit holds: {:?}", report.violations);
        for (job, _) in &self.jobs {
            if let Some(s) = env.settlement(job) {
                prop_assert!(s.balances(), "settlement of {} adds up: {:?}", job, s);
                prop_assert!(env.job(job).is_none(), "a settled job is closed");
                prop_assert_eq!(s.job, *job, "a settlement records its job");
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn books_balance_after_every_step(ops in prop::collection::vec(op(), 1..50)) {
        let mut world = World::new();
        world.check()?;
        for op in &ops {
            world.apply(op);
            world.check()?;
        }
    }
}

/// The random walk must reach the interesting states, or the property above proves little.
#[test]
fn random_walks_reach_settlements_and_slashes() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut verified, mut no_quorum, mut cancelled, mut slashed, mut paid) = (0, 0, 0, 0, 0);
    for _ in 0..10 {
        let ops = prop::collection::vec(op(), 100)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
        }
        world.check().unwrap();
        for (job, _) in &world.jobs {
            if let Some(s) = world.env.settlement(job) {
                match s.outcome {
                    compute_market_client::Outcome::Verified => verified += 1,
                    compute_market_client::Outcome::NoQuorum => no_quorum += 1,
                    compute_market_client::Outcome::Cancelled => cancelled += 1,
                }
                slashed += s.total_slashed;
                paid += s.total_paid;
            }
        }
    }
    let seen = format!(
        "verified {verified}, no quorum {no_quorum}, cancelled {cancelled}, slashed {slashed}, paid {paid}"
    );
    println!("{seen}");
    assert!(
        verified > 0 && no_quorum > 0 && cancelled > 0 && slashed > 0 && paid > 0,
        "{seen}"
    );
}
