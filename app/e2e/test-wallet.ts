/**
 * A Wallet Standard wallet for the browser tests: it registers itself like any installed wallet
 * and signs with a local keypair. Playwright injects it (bundled by esbuild) before the app loads:
 *
 *   window.__CMKT_TEST_WALLET__ = { secretKey: number[64], reject?: boolean, chains?: string[] }
 *
 * `reject` makes it decline like a person pressing "Reject" (tests flip it at run time).
 */
import { Keypair, VersionedTransaction } from "@solana/web3.js";
import type { IdentifierArray, Wallet, WalletAccount } from "@wallet-standard/base";
import { registerWallet } from "@wallet-standard/wallet";

interface Control {
  secretKey: number[];
  reject?: boolean;
  chains?: string[];
  signed?: number;
}

declare global {
  interface Window {
    __CMKT_TEST_WALLET__?: Control;
  }
}

const control = window.__CMKT_TEST_WALLET__;
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" rx="6" fill="#6ea8fe"/></svg>';
const ICON = `data:image/svg+xml;base64,${btoa(SVG)}` as const;

class UserRejected extends Error {
  code = 4001;
  constructor(what: string) {
    super(`User rejected the ${what} request.`);
    this.name = "UserRejectedRequestError";
  }
}

if (control) {
  const keypair = Keypair.fromSecretKey(Uint8Array.from(control.secretKey));
  const chains = (control.chains ?? ["solana:localnet", "solana:devnet", "solana:testnet", "solana:mainnet"]) as IdentifierArray;
  const account: WalletAccount = {
    address: keypair.publicKey.toBase58(),
    publicKey: keypair.publicKey.toBytes(),
    chains,
    features: ["solana:signTransaction"],
  };
  let accounts: WalletAccount[] = [];
  const listeners = new Set<(p: { accounts: readonly WalletAccount[] }) => void>();
  const emit = () => listeners.forEach((l) => l({ accounts }));

  const wallet: Wallet = {
    version: "1.0.0",
    name: "Test Wallet",
    icon: ICON,
    chains,
    get accounts() {
      return accounts;
    },
    features: {
      "standard:connect": {
        version: "1.0.0",
        connect: async () => {
          if (control.reject) throw new UserRejected("connect");
          accounts = [account];
          emit();
          return { accounts };
        },
      },
      "standard:disconnect": {
        version: "1.0.0",
        disconnect: async () => {
          accounts = [];
          emit();
        },
      },
      "standard:events": {
        version: "1.0.0",
        on: (event: string, listener: (p: { accounts: readonly WalletAccount[] }) => void) => {
          if (event !== "change") return () => {};
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      },
      "solana:signTransaction": {
        version: "1.0.0",
        supportedTransactionVersions: ["legacy", 0],
        signTransaction: async (...inputs: { account: WalletAccount; transaction: Uint8Array }[]) => {
          if (control.reject) throw new UserRejected("signature");
          return inputs.map(({ account: a, transaction }) => {
            if (a.address !== account.address) throw new Error("unknown account");
            const tx = VersionedTransaction.deserialize(transaction);
            tx.sign([keypair]);
            control.signed = (control.signed ?? 0) + 1;
            return { signedTransaction: tx.serialize() };
          });
        },
      },
    },
  };
  registerWallet(wallet);
}
