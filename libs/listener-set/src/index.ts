/**
 * @postern/listener-set: a frontend's listeners kept as its settings say (opened, moved, switched
 * on and off on a settings change), one algorithm and one set of log lines for every frontend.
 */
export { ListenerSet, type ListenerLog, type ListenerSetOptions, type ListenerSpec, type OpenListener } from './listener-set';
