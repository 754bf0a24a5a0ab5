// esbuild `inject`: gives the bundled test wallet Node's Buffer, as the app's polyfill does.
import { Buffer } from "buffer";
export { Buffer };
