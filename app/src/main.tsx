import "./polyfills";
import { ConnectionProvider, WalletProvider } from "@solana/wallet-adapter-react";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { AppStateProvider, useApp } from "./state";

function onWalletError(e: Error) {
  const detail = /reject|denied|declined/i.test(`${e.name} ${e.message}`)
    ? "You declined the connection in your wallet."
    : `The wallet reported: ${e.message || e.name}`;
  window.dispatchEvent(new CustomEvent("wallet-error", { detail }));
}

// Wallets that implement Wallet Standard register themselves; no adapter list is needed.
function Wallets({ children }: { children: React.ReactNode }) {
  const { cluster } = useApp();
  return (
    <ConnectionProvider endpoint={cluster.rpc} config={{ commitment: "confirmed" }}>
      <WalletProvider wallets={[]} autoConnect onError={onWalletError}>
        {children}
      </WalletProvider>
    </ConnectionProvider>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <AppStateProvider>
      <Wallets>
        <App />
      </Wallets>
    </AppStateProvider>
  </StrictMode>,
);
