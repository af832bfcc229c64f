import { mountRouteView } from './route-view.js';
import { mountTrainView } from './train-view.js';
import './style.css';

mountRouteView(document.getElementById('route')!);
mountTrainView(document.getElementById('train')!);
