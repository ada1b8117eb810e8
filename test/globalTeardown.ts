import { removeStaleReservations } from '../src/util/ports.js';

/** After the run the test workers are gone: their port reservations go too. */
export default function setup(): () => void {
  return removeStaleReservations;
}
