//! Compute units of every instruction of the program, measured by the runtime: each instruction
//! runs in [`crate::litesvm`] (mainnet's features) for jobs of n = 1, 3 and 8 replicas, on a
//! market paying and staking in SPL Token and on one in Token-2022, and the units are read from
//! the transaction's log (`Program <id> consumed N of M compute units`, CPIs included).
//!
//! The test suite checks these figures against the limits clients request
//! (`compute_market_client::budget`); `cmkt bench` writes them to BENCHMARKS.md.

use compute_market_client::constants::{MAX_EXPIRED_CLAIMS, MAX_REPLICAS};
use compute_market_client::{
    self as client, budget, commitment_hash, ix, logs, pda, token, Instruction, JobPostArgs,
    MarketConfig, MarketInitArgs, MarketRef, Pubkey,
};
use litesvm::LiteSVM;
use solana_sdk::{clock::Clock, signature::Keypair, signer::Signer, transaction::Transaction};

mod deliver;

/// Replica counts measured.
pub const REPLICAS: [u8; 3] = [1, 3, 8];

/// One measured instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Instruction name, with the scenario for finalize (`finalize_job (all agree)`).
    pub instruction: String,
    /// Replicas of the job (0: not a job instruction).
    pub replicas: u8,
    /// "SPL Token" or "Token-2022".
    pub token: &'static str,
    /// Compute units the program's call consumed.
    pub units: u64,
    /// Slots that held a claim when the instruction ran (what finalize's cost grows with).
    pub held: u8,
    /// The limit a client requests for this very instruction
    /// (`compute_market_client::budget::instruction_units`).
    pub limit: u64,
    /// The part of `units` spent searching PDA bumps beyond the first try
    /// (`compute_market_client::budget::pda_search_units`), which varies with the addresses.
    pub pda_search: u64,
}

/// The market's rules for the measurement: room for 8 replicas, short windows.
fn rules() -> MarketConfig {
    MarketConfig {
        min_stake: 1_000,
        collateral_per_claim: 100,
        fee_bps: 250,
        slash_bounty_bps: 1_000,
        max_replicas: 8,
        claim_timeout: 60,
        default_commit_window: 600,
        max_commit_window: 3_600,
        reveal_window: 300,
        unstake_cooldown: 60,
    }
}

/// Who takes part in the measured jobs.
struct Parties {
    providers: Vec<Keypair>,
    requester: Keypair,
    /// The requester's payment-mint account.
    from: Pubkey,
}

impl Row {
    /// The row of `ix`, which consumed `units`, with the limit a client requests for it.
    fn of(
        instruction: &str,
        replicas: u8,
        held: u8,
        token: &'static str,
        units: u64,
        ix: &Instruction,
    ) -> Row {
        Row {
            instruction: instruction.to_string(),
            replicas,
            token,
            units,
            held,
            limit: u64::from(budget::instruction_units(ix, &client::PROGRAM_ID)),
            pda_search: u64::from(budget::pda_search_units(ix, &client::PROGRAM_ID)),
        }
    }
}

struct Bench {
    svm: LiteSVM,
    admin: Keypair,
    market: MarketRef,
    token: &'static str,
    rows: Vec<Row>,
}

/// Sends one transaction (the first signer pays); returns the units the program's calls in it
/// consumed.
fn send(svm: &mut LiteSVM, ixs: &[Instruction], signers: &[&Keypair]) -> Result<u64, String> {
    let tx = Transaction::new_signed_with_payer(
        ixs,
        Some(&signers[0].pubkey()),
        signers,
        svm.latest_blockhash(),
    );
    let r = svm.send_transaction(tx);
    svm.expire_blockhash();
    match r {
        Ok(meta) => Ok(logs::parse(&meta.logs, &client::PROGRAM_ID).compute_units()),
        Err(f) => Err(format!("{:?}\n  {}", f.err, f.meta.logs.join("\n  "))),
    }
}

impl Bench {
    fn send(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> Result<u64, String> {
        send(&mut self.svm, ixs, signers)
    }

    /// Sends `ix` alone in a transaction and records what the program's call consumed.
    fn measure(
        &mut self,
        instruction: &str,
        replicas: u8,
        held: u8,
        ix: Instruction,
        signers: &[&Keypair],
    ) -> Result<(), String> {
        let units = self.send(std::slice::from_ref(&ix), signers)?;
        let row = Row::of(instruction, replicas, held, self.token, units, &ix);
        self.rows.push(row);
        Ok(())
    }

    fn warp(&mut self, secs: i64) {
        let mut clock: Clock = self.svm.get_sysvar();
        clock.unix_timestamp += secs;
        self.svm.set_sysvar(&clock);
        crate::advance_slots(&mut self.svm, 1);
    }

    fn wallet(&mut self) -> Result<Keypair, String> {
        let k = Keypair::new();
        self.svm
            .airdrop(&k.pubkey(), 10_000_000_000)
            .map_err(|e| format!("{e:?}"))?;
        Ok(k)
    }

    /// A wallet holding `amount` of `mint` (of the market's token program) in its associated
    /// account.
    fn funded(&mut self, mint: &Pubkey, amount: u64) -> Result<(Keypair, Pubkey), String> {
        let k = self.wallet()?;
        let program = self.market.state.payment_token_program;
        let to = client::ata(&k.pubkey(), mint, &program);
        let admin = self.admin.insecure_clone();
        self.send(
            &[
                ix::create_ata(&admin.pubkey(), &k.pubkey(), mint, &program),
                token::mint_to(&program, mint, &to, &admin.pubkey(), amount),
            ],
            &[&admin],
        )?;
        Ok((k, to))
    }

    fn provider(&mut self) -> Result<Keypair, String> {
        let stake = 100 * rules().min_stake;
        let mint = self.market.state.stake_mint;
        let (p, from) = self.funded(&mint, stake)?;
        let market = self.market.clone();
        let register = ix::register_provider(&p.pubkey(), &market, "http://127.0.0.1:1", 1);
        self.measure("register_provider", 0, 0, register, &[&p])?;
        self.measure(
            "stake",
            0,
            0,
            ix::stake(&p.pubkey(), &market, &from, stake),
            &[&p],
        )?;
        Ok(p)
    }

    fn post(
        &mut self,
        requester: &Keypair,
        from: &Pubkey,
        nonce: u64,
        n: u8,
    ) -> Result<Pubkey, String> {
        self.post_with(requester, from, nonce, n, None)
    }

    fn post_with(
        &mut self,
        requester: &Keypair,
        from: &Pubkey,
        nonce: u64,
        n: u8,
        consumer: Option<client::Consumer>,
    ) -> Result<Pubkey, String> {
        let args = self.post_args(nonce, n, consumer);
        let market = self.market.clone();
        let post = ix::post_job(&requester.pubkey(), &market, from, args);
        self.measure("post_job", n, 0, post, &[requester])?;
        // past every eligibility window: each provider may claim at once
        crate::advance_slots(
            &mut self.svm,
            compute_market_client::constants::SEED_DELAY_SLOTS
                + compute_market_client::constants::ELIGIBILITY_CAP_SLOTS,
        );
        Ok(market.job(&requester.pubkey(), nonce))
    }

    /// An n-replica job of the longest manifest URI, at a fixed price.
    fn post_args(&self, nonce: u64, n: u8, consumer: Option<client::Consumer>) -> JobPostArgs {
        JobPostArgs {
            nonce,
            manifest_hash: [7; 32],
            // the longest URI a job may carry
            manifest_uri: "x".repeat(compute_market_client::constants::MAX_MANIFEST_URI_LEN),
            reward_per_replica: 10_000,
            min_reward_per_replica: 10_000,
            ramp_delay: 0,
            ramp_seconds: 0,
            replicas: n,
            quorum: n / 2 + 1,
            commit_window: 0,
            terms_hash: self.market.terms_hash(),
            consumer,
        }
    }

    /// Finalizes the job in its current state (after creating the payout accounts).
    fn finalize(
        &mut self,
        caller: &Keypair,
        job: &Pubkey,
        scenario: &str,
        n: u8,
    ) -> Result<(), String> {
        let acc = self.svm.get_account(job).ok_or("job vanished")?;
        let state: client::Job =
            client::decode(job, "Job", &acc.data).map_err(|e| e.to_string())?;
        let m = self.market.state.clone();
        let bounty_to = client::ata(&caller.pubkey(), &m.stake_mint, &m.stake_token_program);
        let mut prereq = ix::finalize_job_prerequisites(&caller.pubkey(), &self.market, &state);
        prereq.push(ix::create_ata(
            &caller.pubkey(),
            &caller.pubkey(),
            &m.stake_mint,
            &m.stake_token_program,
        ));
        self.send(&prereq, &[caller])?;
        let fin = ix::finalize_job(&caller.pubkey(), &self.market, job, &state, &bounty_to);
        self.measure(&format!("finalize_job ({scenario})"), n, n, fin, &[caller])
    }

    /// Posts an n-replica job, fills every slot, commits and reveals (`agree` slots reveal the
    /// same root, the others each another one), finalizes; records every step.
    fn job_flow(
        &mut self,
        parties: &Parties,
        nonce: u64,
        (n, agree): (u8, u8),
        scenario: &str,
    ) -> Result<(), String> {
        let Parties {
            providers,
            requester,
            from,
        } = parties;
        let job = self.post(requester, from, nonce, n)?;
        let market = self.market.clone();
        for (i, p) in providers[..n as usize].iter().enumerate() {
            let claim = ix::claim_job(&p.pubkey(), &market, &job);
            self.measure("claim_job", n, i as u8, claim, &[p])?;
        }
        let root = |i: usize| {
            if (i as u8) < agree {
                [1; 32]
            } else {
                [2 + i as u8; 32]
            }
        };
        for (i, p) in providers[..n as usize].iter().enumerate() {
            let c = commitment_hash(&job, &p.pubkey(), &root(i), &[i as u8; 32]);
            let commit = ix::commit_result(&market, &p.pubkey(), &job, c);
            self.measure("commit_result", n, n, commit, &[p])?;
        }
        for (i, p) in providers[..n as usize].iter().enumerate() {
            let reveal = ix::reveal_result(&market, &p.pubkey(), &job, root(i), [i as u8; 32]);
            self.measure("reveal_result", n, n, reveal, &[p])?;
        }
        let caller = self.admin.insecure_clone();
        self.finalize(&caller, &job, scenario, n)
    }
}

/// Measures every instruction on a market of `token_program`.
fn measure_market(token_program: Pubkey, token: &'static str) -> Result<Vec<Row>, String> {
    let mut svm = crate::litesvm();
    let admin = Keypair::new();
    svm.airdrop(&admin.pubkey(), 1_000_000_000_000)
        .map_err(|e| format!("{e:?}"))?;
    let mut clock: Clock = svm.get_sysvar();
    clock.unix_timestamp = 1_750_000_000;
    svm.set_sysvar(&clock);
    // one mint for payment and another for stake, as the larger finalize moves both
    let mut mints = vec![];
    for _ in 0..2 {
        let mint = Keypair::new();
        let rent = svm.minimum_balance_for_rent_exemption(token::MINT_LEN);
        let ixs = token::create_mint(
            &admin.pubkey(),
            &mint.pubkey(),
            &admin.pubkey(),
            6,
            &token_program,
            rent,
        );
        send(&mut svm, &ixs, &[&admin, &mint])?;
        mints.push(mint.pubkey());
    }
    let init = |market_id| {
        let args = MarketInitArgs {
            market_id,
            treasury: admin.pubkey(),
            config: rules(),
        };
        ix::init_market(
            &client::PROGRAM_ID,
            &admin.pubkey(),
            &mints[0],
            &token_program,
            &mints[1],
            &token_program,
            args,
        )
    };
    let first = init(1);
    let init_units = send(&mut svm, std::slice::from_ref(&first), &[&admin])?;
    let address = pda::market(&client::PROGRAM_ID, &admin.pubkey(), 1);
    let acc = svm.get_account(&address).ok_or("market not created")?;
    let state: client::Market =
        client::decode(&address, "Market", &acc.data).map_err(|e| e.to_string())?;
    let mut b = Bench {
        svm,
        admin: admin.insecure_clone(),
        market: MarketRef {
            program: client::PROGRAM_ID,
            address,
            state,
        },
        token,
        rows: vec![Row::of("init_market", 0, 0, token, init_units, &first)],
    };
    // more markets of the same admin: other addresses, other bump searches (the units beyond
    // the searches must not change with the addresses)
    for market_id in 2..=5 {
        b.measure("init_market", 0, 0, init(market_id), &[&admin])?;
    }
    let m = b.market.state.clone();
    b.send(
        &[
            ix::create_ata(
                &admin.pubkey(),
                &admin.pubkey(),
                &m.payment_mint,
                &m.payment_token_program,
            ),
            ix::create_ata(
                &admin.pubkey(),
                &admin.pubkey(),
                &m.stake_mint,
                &m.stake_token_program,
            ),
        ],
        &[&admin],
    )?;
    let mut providers = vec![];
    for _ in 0..8 {
        providers.push(b.provider()?);
    }
    let (requester, from) = b.funded(&m.payment_mint, 1_000_000_000)?;

    let market = b.market.clone();
    let p0 = providers[0].insecure_clone();
    let update = compute_market_client::ProviderUpdateArgs {
        endpoint: Some("http://127.0.0.1:2".into()),
        capabilities: None,
    };
    b.measure(
        "update_provider",
        0,
        0,
        ix::update_provider(&p0.pubkey(), &market, update),
        &[&p0],
    )?;
    let offer = compute_market_client::ProviderOffer {
        max_fuel: 50_000_000_000,
        max_memory: 1 << 30,
        max_output: 64 << 20,
        min_price: 1,
        price_per_gfuel: 2,
        price_per_mib: 3,
    };
    b.measure(
        "publish_offer",
        0,
        0,
        ix::publish_offer(&p0.pubkey(), &market, offer, 3),
        &[&p0],
    )?;
    let update = compute_market_client::MarketUpdateArgs {
        paused: Some(false),
        ..Default::default()
    };
    b.measure(
        "update_market",
        0,
        0,
        ix::update_market(&admin.pubkey(), &market, update),
        &[&admin],
    )?;

    let parties = Parties {
        providers: providers.iter().map(|p| p.insecure_clone()).collect(),
        requester: requester.insecure_clone(),
        from,
    };
    let mut nonce = 0;
    for n in REPLICAS {
        nonce += 1;
        // every replica agrees: n payments
        b.job_flow(&parties, nonce, (n, n), "all agree")?;
        if n > 1 {
            nonce += 1;
            // a bare quorum, the rest dissent: payments, a refund, slashes and a bounty
            b.job_flow(&parties, nonce, (n, n / 2 + 1), "quorum, rest slashed")?;
        }
        // a claim expired by another provider
        nonce += 1;
        let job = b.post(&requester, &from, nonce, n)?;
        b.send(&[ix::claim_job(&p0.pubkey(), &market, &job)], &[&p0])?;
        b.warp(rules().claim_timeout + 1);
        let crank = providers[7].insecure_clone();
        let bounty_to = client::ata(&crank.pubkey(), &m.stake_mint, &m.stake_token_program);
        let expire = ix::expire_claim(&crank.pubkey(), &market, &job, 0, &p0.pubkey(), &bounty_to);
        b.measure("expire_claim", n, 1, expire, &[&crank])?;
        // a job nobody took, extended: later deadlines and a higher maximum on a new ramp
        // (the top-up transfer included), then cancelled
        nonce += 1;
        let job = b.post(&requester, &from, nonce, n)?;
        let extend = compute_market_client::JobExtendArgs {
            extend_seconds: 60,
            reprice: Some(compute_market_client::JobReprice {
                reward_per_replica: 20_000,
                ramp_seconds: 30,
            }),
        };
        let extend = ix::extend_job(&requester.pubkey(), &market, &job, &from, extend);
        b.measure("extend_job", n, 0, extend, &[&requester])?;
        let cancel = ix::cancel_job(&requester.pubkey(), &market, &job, &from);
        b.measure("cancel_job", n, 0, cancel, &[&requester])?;
    }
    // a verified result (8 bytes of output) delivered to the sample consumer, which stores it
    nonce += 1;
    b.deliver_flow(&requester, &from, &p0, nonce)?;

    // the largest record a cancellation writes: n = 8 and every expiry a job can record
    nonce += 1;
    let n = MAX_REPLICAS;
    let job = b.post(&requester, &from, nonce, n)?;
    let crank = providers[7].insecure_clone();
    let bounty_to = client::ata(&crank.pubkey(), &m.stake_mint, &m.stake_token_program);
    let mut squatters = vec![];
    for _ in 0..MAX_EXPIRED_CLAIMS {
        squatters.push(b.provider()?);
    }
    for round in squatters.chunks(n as usize) {
        for p in round {
            b.send(&[ix::claim_job(&p.pubkey(), &market, &job)], &[p])?;
        }
        b.warp(rules().claim_timeout + 1);
        for (slot, p) in round.iter().enumerate() {
            let expire = ix::expire_claim(
                &crank.pubkey(),
                &market,
                &job,
                slot as u8,
                &p.pubkey(),
                &bounty_to,
            );
            b.send(&[expire], &[&crank])?;
        }
    }
    let cancel = ix::cancel_job(&requester.pubkey(), &market, &job, &from);
    let name = format!("cancel_job ({MAX_EXPIRED_CLAIMS} expired)");
    b.measure(&name, n, 0, cancel, &[&requester])?;

    // the provider lifecycle's end: unstake everything, withdraw, close
    let p = b.provider()?;
    let stake = 100 * rules().min_stake;
    b.measure(
        "request_unstake",
        0,
        0,
        ix::request_unstake(&p.pubkey(), &market, stake),
        &[&p],
    )?;
    b.warp(rules().unstake_cooldown + 1);
    let to = client::ata(&p.pubkey(), &m.stake_mint, &m.stake_token_program);
    b.measure(
        "withdraw_stake",
        0,
        0,
        ix::withdraw_stake(&p.pubkey(), &market, &to),
        &[&p],
    )?;
    b.measure(
        "close_provider",
        0,
        0,
        ix::close_provider(&p.pubkey(), &market),
        &[&p],
    )?;

    // tokens sent to the vaults from outside, swept to the treasury
    for (vault, mint, program, stake) in [
        (
            m.escrow_vault,
            m.payment_mint,
            m.payment_token_program,
            false,
        ),
        (m.stake_vault, m.stake_mint, m.stake_token_program, true),
    ] {
        b.send(
            &[token::mint_to(&program, &mint, &vault, &admin.pubkey(), 5)],
            &[&admin],
        )?;
        let sweep = ix::sweep_surplus(&admin.pubkey(), &market, stake);
        b.measure("sweep_surplus", 0, 0, sweep, &[&admin])?;
    }
    Ok(b.rows)
}

/// Every instruction, on an SPL Token market and on a Token-2022 market.
pub fn measure() -> Result<Vec<Row>, String> {
    let mut rows = measure_market(token::TOKEN_PROGRAM, "SPL Token")?;
    rows.extend(measure_market(token::TOKEN_2022_PROGRAM, "Token-2022")?);
    Ok(rows)
}
