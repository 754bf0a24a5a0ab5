//! The books: tokens sent into the vaults from outside, the ledgers, the audit of every
//! account on the chain and the vaults' invariant.

use super::{token_transfer, Env};
use compute_market_client::{self as client, Job, Provider, Pubkey, Settlement, SlotState};
use solana_sdk::signer::Signer;

impl Env {
    /// Sends `escrow` payment tokens and `stake` stake tokens into the market's vaults from a
    /// stranger, as anyone can (plain SPL Token mints).
    pub fn donate(&mut self, escrow: u64, stake: u64) {
        let m = self.market.state.clone();
        let donor = self.wallet();
        let pay_from = self.fund(
            &donor.pubkey(),
            &m.payment_mint,
            &m.payment_token_program,
            escrow,
        );
        let stake_from = self.fund(
            &donor.pubkey(),
            &m.stake_mint,
            &m.stake_token_program,
            stake,
        );
        self.send(
            &[
                token_transfer(&pay_from, &m.escrow_vault, &donor.pubkey(), escrow),
                token_transfer(&stake_from, &m.stake_vault, &donor.pubkey(), stake),
            ],
            &[&donor],
        )
        .unwrap();
    }

    /// A vault's ledger (the program's books of it).
    pub fn ledger(&self, address: &Pubkey) -> Option<client::Ledger> {
        self.account(address)
            .map(|acc| client::decode(address, "Ledger", &acc.data).unwrap())
    }

    /// Every job and provider of the market, read from the chain.
    pub fn program_accounts(&self) -> (Vec<Job>, Vec<Provider>) {
        let (mut jobs, mut providers) = (vec![], vec![]);
        for (address, acc) in self.svm.get_program_accounts(&client::PROGRAM_ID) {
            if acc.lamports == 0 {
                continue;
            }
            if let Ok(j) = client::decode::<Job>(&address, "Job", &acc.data) {
                jobs.push(j);
            } else if let Ok(p) = client::decode::<Provider>(&address, "Provider", &acc.data) {
                providers.push(p);
            }
        }
        (jobs, providers)
    }

    /// What `cmkt audit` reports for this market, from every account on the chain.
    pub fn audit(&self) -> client::audit::Report {
        let mut snap = client::audit::Snapshot {
            market: self.market.clone(),
            escrow_vault_balance: self.escrow_balance(),
            stake_vault_balance: self.stake_vault_balance(),
            escrow_ledger: self.ledger(&self.market.escrow_ledger()),
            stake_ledger: self.ledger(&self.market.stake_ledger()),
            jobs: vec![],
            providers: vec![],
            settlements: vec![],
        };
        for (address, acc) in self.svm.get_program_accounts(&client::PROGRAM_ID) {
            if acc.lamports == 0 {
                continue;
            }
            if let Ok(j) = client::decode::<Job>(&address, "Job", &acc.data) {
                snap.jobs.push((address, j));
            } else if let Ok(p) = client::decode::<Provider>(&address, "Provider", &acc.data) {
                snap.providers.push((address, p));
            } else if let Ok(s) = client::decode::<Settlement>(&address, "Settlement", &acc.data) {
                snap.settlements.push((address, s));
            }
        }
        client::audit::audit(&snap)
    }

    /// The auditor's invariant: each vault holds exactly what the books say.
    #[track_caller]
    pub fn assert_vaults_balanced(&self) {
        self.assert_vaults_hold(0, 0);
    }

    /// [`Env::assert_vaults_balanced`] for vaults that also hold `escrow_surplus` and
    /// `stake_surplus` tokens sent to them from outside (and not swept yet).
    #[track_caller]
    pub fn assert_vaults_hold(&self, escrow_surplus: u64, stake_surplus: u64) {
        let (jobs, providers) = self.program_accounts();
        let escrows: u64 = jobs.iter().map(|j| j.escrow).sum();
        let stakes: u64 = providers.iter().map(|p| p.stake).sum();
        assert_eq!(
            self.escrow_balance(),
            escrows + escrow_surplus,
            "escrow vault == sum of open escrows (+ surplus)"
        );
        assert_eq!(
            self.stake_vault_balance(),
            stakes + stake_surplus,
            "stake vault == sum of stakes (+ surplus)"
        );
        let books = |l: Pubkey| self.ledger(&l).expect("the market has its ledgers").books;
        assert_eq!(
            books(self.market.escrow_ledger()),
            escrows,
            "escrow ledger == sum of open escrows"
        );
        assert_eq!(
            books(self.market.stake_ledger()),
            stakes,
            "stake ledger == sum of stakes"
        );
        for p in &providers {
            assert!(
                p.locked + p.pending_unstake <= p.stake,
                "provider books: {p:?}"
            );
        }
        for j in &jobs {
            let held = j
                .slots
                .iter()
                .filter(|s| s.state != SlotState::Free)
                .count();
            assert!(held <= j.replicas as usize);
        }
    }
}
