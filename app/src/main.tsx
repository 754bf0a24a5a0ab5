import "./polyfills";
import { ConnectionProvider, WalletProvider } from "@solana/wallet-adapter-react";
import { Component, StrictMode, type ErrorInfo, type ReactNode } from "react";
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

/** A bug must not leave a blank page: say what broke and offer a way out. */
class Boundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error(error, info.componentStack);
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="error banner" role="alert">
        <p>The page hit an error: {this.state.error.message}</p>
        <button
          onClick={() => {
            localStorage.clear();
            window.location.hash = "";
            window.location.reload();
          }}
        >
          Reset settings and reload
        </button>
      </div>
    );
  }
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Boundary>
      <AppStateProvider>
        <Wallets>
          <App />
        </Wallets>
      </AppStateProvider>
    </Boundary>
  </StrictMode>,
);
